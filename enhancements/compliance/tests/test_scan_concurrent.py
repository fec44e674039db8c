"""A whole-month scan started outside any transaction runs on two connections over unlogged
tables (scan._scan_concurrent). It must give the same alerts and daily rows as the one-connection
scan (also when a Celery worker runs it), keep its writes in one transaction, and leave no
unlogged table behind when it fails on either connection."""

import datetime as dt
import json
import time
from decimal import Decimal

import pytest
from django.db import connection, transaction

from enhancements.compliance.models import Alert, AuditEntry, MerchantDailyVolume
from enhancements.compliance.rules import scan, windows
from enhancements.compliance.rules.catalogue import rules_install
from enhancements.compliance.rules.scan import scan_month

from .conftest import OCT, ist, txn

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "core"])


def _leftover_tables() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname FROM pg_class WHERE relname LIKE 'compliance\\_scan\\_%' AND relpersistence = 'u'")
        return [row[0] for row in cursor.fetchall()]


def _state() -> tuple[list, list]:
    alerts = sorted((a.rule_code, a.entity_key, a.window_key, a.entity_display, a.client_id, a.client_code,
                     str(a.observed_amount), a.observed_count, a.threshold, a.severity, a.window_start, a.window_end,
                     json.dumps(a.evidence, sort_keys=True)) for a in Alert.objects.all())
    daily = sorted(MerchantDailyVolume.objects.values_list("client_id", "day", "txn_count", "amount"))
    return alerts, daily


def _month(core_rows) -> None:
    rules_install()  # an earlier transactional test may have flushed the migration's rule rows
    MerchantDailyVolume.objects.bulk_create(
        MerchantDailyVolume(client_id=701, day=dt.date(2026, 9, 20 + d), txn_count=1, amount=Decimal("10000.00")) for d in range(7))
    txn(core_rows, 701, "150000.00", ist(5, 10))  # a spike day
    txn(core_rows, 702, "250000.00", ist(3), payment_mode="International Card")  # high value, not cross-border
    txn(core_rows, 702, "600000.00", ist(4), payment_mode="International Card")  # both
    for i in range(10):  # one payer's window over the count
        txn(core_rows, 703, "100.00", ist(6, 10, i * 5), vpa="Ravi.Kumar@okhdfcbank")
    for i in range(5):  # the same payer (by e-mail) in the next hour: under it
        txn(core_rows, 704, "100.00", ist(6, 11, i * 5), payee_email="ravi.kumar@okhdfcbank")
    for i in range(9):  # a payer one payment short
        txn(core_rows, 705, "100.00", ist(7, 10, i * 5), vpa="sita.devi@okicici")
    txn(core_rows, 706, "190000.00", ist(8, 9), vpa="big@okaxis")  # a payer over the amount in one window
    txn(core_rows, 707, "15000.00", ist(8, 9, 30), vpa="big@okaxis")
    txn(core_rows, 707, "9000.00", ist(8, 11), vpa="big@okaxis")  # ... not in the next one
    for d in (2, 20):
        txn(core_rows, 708, "600000.00", ist(d), payment_mode="Challan")


def test_concurrent_scan_gives_the_one_connection_results_and_drops_its_tables(core_rows, monkeypatch):
    _month(core_rows)
    used = []
    concurrent = scan._scan_concurrent
    monkeypatch.setattr(scan, "_scan_concurrent", lambda *a, **k: used.append(1) or concurrent(*a, **k))
    result = scan_month(month=OCT)
    assert used and _leftover_tables() == []
    two_connections = _state()
    assert {row[0] for row in two_connections[0]} >= {"HIGH_VALUE", "CROSS_BORDER", "VELOCITY_PAYER", "CASH_MONTHLY",
                                                     "KYC_NOT_APPROVED", "VOLUME_SPIKE"}
    payer_windows = sorted((a.window_key, a.observed_count, str(a.observed_amount)) for a in Alert.objects.filter(rule_code="VELOCITY_PAYER"))
    assert payer_windows == [("60m@2026-10-06T10:00", 10, "1000.00"), ("60m@2026-10-08T09:00", 2, "205000.00")]
    assert result.created["VELOCITY_PAYER"] == 2

    Alert.objects.all().delete()
    AuditEntry.objects.all().delete()
    MerchantDailyVolume.objects.filter(day__gte=OCT).delete()
    with transaction.atomic():  # inside a caller's transaction: one connection, temp tables
        scan_month(month=OCT)
    assert len(used) == 1
    assert _state() == two_connections

    again = scan_month(month=OCT)  # a rescan refreshes nothing and raises nothing new
    assert sum(again.created.values()) == 0 and sum(again.refreshed.values()) == 0 and _state() == two_connections


def test_tables_of_a_killed_scan_are_dropped_by_the_next_one(core_rows):
    _month(core_rows)
    with connection.cursor() as cursor:  # as a scan killed mid-way leaves them: its backend is gone
        cursor.execute("SELECT max(pid) + 1 FROM pg_stat_activity")
        dead = cursor.fetchone()[0]
        cursor.execute(f"CREATE UNLOGGED TABLE compliance_scan_stage_p{dead}_0123456789ab (x int)")
        cursor.execute("CREATE UNLOGGED TABLE compliance_scan_stage_other (x int)")  # not a scan's name: kept
    scan_month(month=OCT)
    assert _leftover_tables() == ["compliance_scan_stage_other"]
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE compliance_scan_stage_other")


def test_a_failure_on_the_scan_connection_rolls_back_and_drops_the_unlogged_tables(core_rows, monkeypatch):
    _month(core_rows)

    def broken(cursor, plan):
        raise RuntimeError("hits pass failed")

    monkeypatch.setattr(windows, "collect_hits", broken)
    with pytest.raises(RuntimeError, match="hits pass failed"):
        scan_month(month=OCT)
    assert _leftover_tables() == []
    assert not Alert.objects.exists() and not MerchantDailyVolume.objects.filter(day__gte=OCT).exists()


def test_a_failure_on_the_second_connection_reaches_the_caller_and_drops_the_unlogged_tables(core_rows, monkeypatch):
    _month(core_rows)
    monkeypatch.setattr(windows, "payers_sql", lambda plan: ("SELECT no_such_column FROM " + plan.stage, {}))
    with pytest.raises(Exception, match="no_such_column"):
        scan_month(month=OCT)
    assert _leftover_tables() == []
    assert not Alert.objects.exists() and not MerchantDailyVolume.objects.filter(day__gte=OCT).exists()


def test_a_late_failure_on_the_second_connection_undoes_the_alerts_already_raised(core_rows, monkeypatch):
    # The second connection fails building VELOCITY_PAYER's alert candidates, its last step:
    # by then the scan's connection has raised every other rule's alerts in its transaction.
    _month(core_rows)
    raised = []
    upsert = scan.upsert_candidates
    monkeypatch.setattr(scan, "upsert_candidates", lambda *a, **k: raised.append(1) or upsert(*a, **k))
    monkeypatch.setattr(windows, "_velocity_payer_query",
                        lambda plan: ("VELOCITY_PAYER", "SELECT no_such_column FROM " + plan.payer_windows, {}))
    with pytest.raises(Exception, match="no_such_column"):
        scan_month(month=OCT)
    assert raised  # the other rules' upserts ran before the failure surfaced
    assert _leftover_tables() == []
    assert not Alert.objects.exists() and not AuditEntry.objects.exists()
    assert not MerchantDailyVolume.objects.filter(day__gte=OCT).exists()


def test_the_scan_task_runs_the_concurrent_path_in_a_celery_worker(core_rows, celery_worker):
    from enhancements.compliance.tasks import compliance_scan_month

    _month(core_rows)
    compliance_scan_month.delay(OCT.isoformat())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not Alert.objects.filter(rule_code="VOLUME_SPIKE").exists():
        time.sleep(0.3)
    in_worker = _state()
    assert {row[0] for row in in_worker[0]} >= {"HIGH_VALUE", "VELOCITY_PAYER", "KYC_NOT_APPROVED", "VOLUME_SPIKE"}
    assert _leftover_tables() == []
    Alert.objects.all().delete()
    AuditEntry.objects.all().delete()
    MerchantDailyVolume.objects.filter(day__gte=OCT).delete()
    with transaction.atomic():
        scan_month(month=OCT)
    assert _state() == in_worker
