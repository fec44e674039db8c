"""Staged lines live in one partition per file, results in one per run (storage.py): what an
operator would notice is that re-runs, rejected imports and later files keep the right rows."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from enhancements.reconciliation import storage
from enhancements.reconciliation.models import Mismatch, ReconResult, SettlementEntry, SettlementFile
from enhancements.reconciliation.services import RejectedFileError, reconciliation_run_execute
from integrations.settlement_files.profiles import ENTRY_FIELDS

from .conftest import gateway_line

pytestmark = pytest.mark.django_db(databases=["default", "core"])


def _partitions(parent: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = %s::regclass ORDER BY 1""",
            [parent],
        )
        return [name for (name,) in cursor.fetchall()]


def _tables_like(prefix: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname FROM pg_class WHERE relkind = 'r' AND relname LIKE %s ORDER BY 1", [prefix + "%"])
        return [name for (name,) in cursor.fetchall()]


def test_partition_columns_follow_the_parsers_fields():
    # The bulk import selects ENTRY_FIELDS in this order into storage.ENTRY_COLUMNS.
    assert [name for name, _, _ in storage.ENTRY_COLUMNS[3:]] == list(ENTRY_FIELDS)


def test_each_import_gets_its_own_partition_with_computed_ids(core_rows, gateway_file):
    first = gateway_file([gateway_line(txn_id="A1"), gateway_line(txn_id="A2")], name="a.csv")
    second = gateway_file([gateway_line(txn_id="B1")], name="b.csv")
    assert _partitions("reconciliation_entries") == sorted(
        [storage.entries_partition(first.pk), storage.entries_partition(second.pk)]
    )
    rows = list(SettlementEntry.objects.order_by("file_id", "line_no").values_list("id", "file_id", "line_no", "txn_id"))
    assert rows == [
        (storage.entry_id(first.pk, 2), first.pk, 2, "A1"),
        (storage.entry_id(first.pk, 3), first.pk, 3, "A2"),
        (storage.entry_id(second.pk, 2), second.pk, 2, "B1"),
    ]


def test_rejected_import_leaves_no_table_behind(core_rows, gateway_file):
    with pytest.raises(RejectedFileError):
        gateway_file([gateway_line(txn_id="A1"), gateway_line(txn_id="A2", amount="abc")], bad_rows="all_or_nothing")
    assert SettlementFile.objects.get().status == "rejected"
    assert _tables_like("reconciliation_entries_f") == []
    assert not SettlementEntry.objects.exists()


def test_rerun_replaces_the_runs_partition_and_dry_runs_write_none(core_rows, gateway_file, rules, reconcile):
    rules({"reference": "txn_id"})
    a = core_rows.transaction(client_id=11, client_code="C11")
    b = core_rows.transaction(client_id=11, client_code="C11")
    file = gateway_file([gateway_line(txn_id=a["txn_id"]), gateway_line(txn_id=b["txn_id"])])
    dry = reconcile(file, dry_run=True)
    assert dry.summary["matched_lines"] == 2
    assert _partitions("transaction_recon_table") == [] and not ReconResult.objects.exists()

    run = reconcile(file)
    ids = set(ReconResult.objects.filter(run=run).values_list("id", flat=True))
    run = reconciliation_run_execute(run=run)
    assert _partitions("transaction_recon_table") == [storage.results_partition(run.pk)]
    assert ReconResult.objects.filter(run=run).count() == 2
    assert ids.isdisjoint(ReconResult.objects.values_list("id", flat=True))  # the old rows went with their partition
    assert _tables_like("transaction_recon_table_r") == [storage.results_partition(run.pk)]


def test_a_transaction_paired_by_an_earlier_run_is_not_missing_from_a_later_file(core_rows, gateway_file, rules,
                                                                                  reconcile):  # fmt: skip
    rules({"reference": "txn_id"})
    when = dt.datetime(2026, 11, 20, 10, 30)
    a = core_rows.transaction(trans_date=when)
    b = core_rows.transaction(trans_date=when)
    reconcile(gateway_file([gateway_line(txn_id=a["txn_id"], when=when)], name="monday.csv"))
    later = reconcile(gateway_file([gateway_line(txn_id=b["txn_id"], when=when)], name="tuesday.csv"))
    # a was settled in Monday's file: only Tuesday's own omissions would be MISSING_IN_BANK.
    assert not Mismatch.objects.filter(run=later, type="MISSING_IN_BANK").exists()
    assert later.summary["core_window"][0] < "2026-11-20" < later.summary["core_window"][1]
