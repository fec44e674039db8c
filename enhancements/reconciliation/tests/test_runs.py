"""Re-runs are idempotent, dry runs keep nothing, events reach the outbox, the core is untouched."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection

from enhancements.events.models import OutboxEvent
from enhancements.reconciliation.models import Mismatch, MismatchEvent, ReconciliationRun, ReconResult
from enhancements.reconciliation.services import (
    mismatch_comment,
    mismatch_resolve,
    reconcile_previous_day,
    reconciliation_run_execute,
)

from .conftest import gateway_line

pytestmark = pytest.mark.django_db(databases=["default", "core"])


def _core_checksum() -> str:
    from core_legacy.sql import core_table

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY txn_id), '')) FROM {core_table('transaction_detail')} t")
        return cursor.fetchone()[0]


def _scenario(core_rows, gateway_file):
    a = core_rows.transaction(client_id=11, client_code="C11")
    b = core_rows.transaction(client_id=12, client_code="C12", paid_amount=500.0)
    c = core_rows.transaction(client_id=12, client_code="C12", paid_amount=300.0)
    gone = core_rows.transaction(client_id=12, client_code="C12")  # MISSING_IN_BANK
    file = gateway_file([
        gateway_line(txn_id=a["txn_id"]),
        gateway_line(txn_id=b["txn_id"], amount="500.00"),
        gateway_line(txn_id=c["txn_id"], amount="301.00", net="300.00"),  # AMOUNT
        gateway_line(txn_id="NOPE", amount="10.00"),  # MISSING_IN_SYSTEM
    ])  # fmt: skip
    return file, a, b, c, gone


def test_rerun_replaces_its_own_results_and_keeps_worked_mismatches(core_rows, gateway_file, rules, reconcile, operator):
    (rule,) = rules({"reference": "txn_id"})
    file, a, b, c, gone = _scenario(core_rows, gateway_file)
    before = _core_checksum()
    run = reconcile(file)
    assert ReconResult.objects.filter(run=run).count() == 3
    assert sorted(Mismatch.objects.filter(run=run).values_list("type", flat=True)) == ["AMOUNT", "MISSING_IN_BANK", "MISSING_IN_SYSTEM"]
    amount = Mismatch.objects.get(run=run, type="AMOUNT")
    missing = Mismatch.objects.get(run=run, type="MISSING_IN_SYSTEM")
    mismatch_resolve(mismatch_ids=[missing.pk], actor=operator, reason="raised_with_bank", comment="ticket 42")
    mismatch_comment(mismatch_ids=[amount.pk], actor=operator, comment="checking with the gateway")

    run = reconciliation_run_execute(run=run)  # same rules: same outcome, nothing duplicated
    assert run.attempts == 2
    assert ReconResult.objects.filter(run=run).count() == 3
    assert Mismatch.objects.filter(run=run).count() == 3
    assert Mismatch.objects.get(pk=missing.pk).state == "RESOLVED"  # the operator's resolution survives

    rule.amount_tolerance_abs = Decimal("2.00")
    rule.save()
    run = reconciliation_run_execute(run=run)  # now the AMOUNT mismatch is gone
    closed = Mismatch.objects.get(pk=amount.pk)
    assert (closed.state, closed.resolution) == ("RESOLVED", "cleared_on_rerun")
    assert list(closed.history.values_list("action", flat=True)) == ["commented", "resolved"]
    assert Mismatch.objects.filter(run=run, state="OPEN").count() == 1  # MISSING_IN_BANK
    assert _core_checksum() == before


def test_rerun_drops_untouched_mismatches_that_no_longer_apply(core_rows, gateway_file, rules, reconcile):
    (rule,) = rules({"reference": "txn_id"})
    file, *_ = _scenario(core_rows, gateway_file)
    run = reconcile(file)
    rule.amount_tolerance_abs = Decimal("2.00")
    rule.save()
    reconciliation_run_execute(run=run)
    assert not Mismatch.objects.filter(run=run, type="AMOUNT").exists()


def test_dry_run_shows_what_would_match_and_keeps_nothing(core_rows, gateway_file, rules, reconcile):
    rules({"reference": "txn_id"})
    file, *_ = _scenario(core_rows, gateway_file)
    run = reconcile(file, dry_run=True)
    assert run.status == "done" and run.summary["matched_lines"] == 2
    assert run.summary["mismatches"]["AMOUNT"]["count"] == 1
    assert run.summary["mismatches"]["MISSING_IN_BANK"]["count"] == 1
    assert not ReconResult.objects.exists() and not Mismatch.objects.exists()
    assert not OutboxEvent.objects.filter(type="settlement.reconciled").exists()


def test_settlement_reconciled_events_per_merchant_once(core_rows, gateway_file, rules, reconcile):
    rules({"reference": "txn_id"})
    file, a, b, c, gone = _scenario(core_rows, gateway_file)
    run = reconcile(file)
    events = {e.client_id: e for e in OutboxEvent.objects.filter(type="settlement.reconciled")}
    assert set(events) == {11, 12}
    assert events[12].payload["matched_count"] == 1 and events[12].payload["matched_amount"] == "500.00"
    assert events[12].client_code == "C12" and events[12].payload["run_id"] == run.pk
    reconciliation_run_execute(run=run)
    assert OutboxEvent.objects.filter(type="settlement.reconciled").count() == 2


def test_failed_run_records_its_error(core_rows, gateway_file, rules, reconcile):
    from enhancements.reconciliation.services import ReconciliationError

    rules({"reference": "txn_id", "active": False})
    file, *_ = _scenario(core_rows, gateway_file)
    with pytest.raises(ReconciliationError, match="no active reconciliation rule"):
        reconcile(file)
    run = ReconciliationRun.objects.get(file=file)
    assert run.status == "failed" and "no active reconciliation rule" in run.error


def test_daily_job_reconciles_yesterdays_files_once(core_rows, gateway_file, rules):
    from django_celery_beat.models import PeriodicTask

    from enhancements.reconciliation.models import SettlementFile

    rules({"reference": "txn_id"})
    file, *_ = _scenario(core_rows, gateway_file)
    today = dt.date(2026, 11, 21)
    SettlementFile.objects.filter(pk=file.pk).update(uploaded_at=dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC))
    (run_id,) = reconcile_previous_day(today=today)
    assert ReconciliationRun.objects.get(pk=run_id).status == "done"
    assert reconcile_previous_day(today=today) == []
    assert reconcile_previous_day(today=today + dt.timedelta(days=1)) == []
    task = PeriodicTask.objects.get(task="reconciliation.reconcile_previous_day")
    assert task.enabled and task.crontab.hour == "6"
    assert MismatchEvent.objects.count() == 0
