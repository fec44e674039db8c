"""Staged lines live in one partition per file, results in one per run (storage.py): what an
operator would notice is that re-runs, rejected imports and later files keep the right rows."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import DataError, connection

from enhancements.reconciliation import storage
from enhancements.reconciliation.models import Mismatch, ReconResult, SettlementEntry, SettlementFile
from enhancements.reconciliation.services import ReconciliationError, RejectedFileError, reconciliation_run_execute
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
    # Written in place: the run's partition, partitioned by rule (one part per rule, a default).
    part = storage.results_partition(run.pk)
    assert _partitions(part) == [f"{part}_1", f"{part}_d"]
    ids = sorted(ReconResult.objects.filter(run=run).values_list("id", flat=True))
    assert ids == [run.pk * 2**32 + 2, run.pk * 2**32 + 3]  # run and line number
    run = reconciliation_run_execute(run=run)
    assert _partitions("transaction_recon_table") == [part]
    assert sorted(ReconResult.objects.values_list("id", flat=True)) == ids  # replaced, not added to
    assert _tables_like("transaction_recon_table_r") == [f"{part}_1", f"{part}_d"]


def test_results_outlive_their_rule_and_a_rerun_may_use_a_new_rule(core_rows, gateway_file, rules, reconcile):
    old_rule, = rules({"reference": "txn_id"})
    a = core_rows.transaction()
    run = reconcile(gateway_file([gateway_line(txn_id=a["txn_id"])]))
    assert list(ReconResult.objects.filter(run=run).values_list("rule_id", "outcome")) == [(old_rule.pk, "MATCHED")]
    new_rule, = rules({"reference": "txn_id", "name": "replacement"})  # deletes the old rule
    assert list(ReconResult.objects.filter(run=run).values_list("rule_id", "outcome")) == [(None, "MATCHED")]
    run = reconciliation_run_execute(run=run)
    assert list(ReconResult.objects.filter(run=run).values_list("rule_id", "outcome")) == [(new_rule.pk, "MATCHED")]


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


def test_a_failed_rerun_keeps_its_previous_results_claiming_their_transactions(core_rows, gateway_file, rules,
                                                                                reconcile):  # fmt: skip
    rules({"reference": "txn_id"})
    when = dt.datetime(2026, 11, 20, 10, 30)
    a = core_rows.transaction(trans_date=when)
    b = core_rows.transaction(trans_date=when)
    monday = reconcile(gateway_file([gateway_line(txn_id=a["txn_id"], when=when)], name="monday.csv"))
    with pytest.raises(ReconciliationError):
        reconciliation_run_execute(run=monday, window=(dt.date(2026, 11, 21), dt.date(2026, 11, 20)))
    monday.refresh_from_db()
    assert monday.status == "failed" and ReconResult.objects.filter(run=monday).count() == 1
    later = reconcile(gateway_file([gateway_line(txn_id=b["txn_id"], when=when)], name="tuesday.csv"))
    assert not Mismatch.objects.filter(run=later, type="MISSING_IN_BANK").exists()


def test_a_core_reference_too_long_for_the_results_fails_the_run_instead_of_being_cut(core_rows, gateway_file,
                                                                                       rules, reconcile):  # fmt: skip
    rules({"reference": "txn_id"})
    long_id = "L" * 80  # the core's txn_id is unbounded text; the results keep 64 characters
    core_rows.transaction(txn_id=long_id)
    file = gateway_file([gateway_line(txn_id=long_id)])
    with pytest.raises(DataError, match="txn_id is longer than 64 characters"):
        reconcile(file)
    assert not ReconResult.objects.exists()


def test_bulk_import_falling_back_to_streaming_after_its_table_was_built(core_rows, gateway_file, monkeypatch):
    from enhancements.reconciliation import importing

    monkeypatch.setattr(importing, "DIRTY_LIMIT", 0)  # one line for Python is already too many
    lines = [gateway_line(txn_id="A1"), gateway_line(txn_id="A2", amount="abc"), gateway_line(txn_id="A3")]
    record = gateway_file(lines)
    assert (record.rows_imported, record.rows_quarantined) == (2, 1)
    assert _partitions("reconciliation_entries") == [storage.entries_partition(record.pk)]
    assert list(SettlementEntry.objects.order_by("line_no").values_list("id", "txn_id")) == [
        (storage.entry_id(record.pk, 2), "A1"), (storage.entry_id(record.pk, 4), "A3"),
    ]  # fmt: skip


def test_a_rule_on_a_reference_no_line_carries_is_skipped_and_duplicates_still_found(core_rows, gateway_file, rules,
                                                                                      reconcile):  # fmt: skip
    pg_rule, txn_rule = rules({"reference": "pg_txn_id"}, {"reference": "txn_id"})
    a = core_rows.transaction(pg_txn_id="PG-1")
    run = reconcile(gateway_file([gateway_line(txn_id=a["txn_id"]), gateway_line(txn_id=a["txn_id"])]))
    assert run.summary["pairs_by_rule"] == {pg_rule.name: 0, txn_rule.name: 1}
    (dup,) = Mismatch.objects.filter(run=run)
    assert (dup.type, dup.line_no) == ("DUPLICATE", 3)


def test_a_file_without_a_lines_partition_reconciles_as_an_empty_file(core_rows, gateway_file, rules, reconcile):
    # Files imported before the lines were partitioned with no line at all have no partition of
    # their own (migration 0004 moved only existing lines); the run reads the parent for them.
    rules({"reference": "txn_id"})
    when = dt.datetime(2026, 11, 20, 10, 30)
    paid = core_rows.transaction(trans_date=when)
    file = gateway_file([gateway_line(txn_id="GONE", when=when)])
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {storage.entries_partition(file.pk)}")
    run = reconcile(file, window=(dt.date(2026, 11, 20), dt.date(2026, 11, 20)))
    assert run.status == "done" and run.summary["matched_lines"] == 0
    assert list(Mismatch.objects.filter(run=run).values_list("type", "txn_id")) == [("MISSING_IN_BANK", paid["txn_id"])]


def _scratch_tables() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname FROM pg_class WHERE relname LIKE 'recon\\_%%' AND relpersistence = 'u' ORDER BY 1")
        return [name for (name,) in cursor.fetchall()]


def test_a_run_leaves_no_scratch_table_whether_it_succeeds_fails_or_is_dry(core_rows, gateway_file, rules, reconcile,
                                                                           monkeypatch):  # fmt: skip
    # The window, pairs and repeated-reference tables are unlogged tables of the run's own
    # (matching.Scratch), dropped before its transaction ends, or with its rollback.
    from enhancements.reconciliation import matching

    rules({"reference": "txn_id"}, {"reference": "client_txn_id", "kind": "many_to_one"})
    a = core_rows.transaction()
    file = gateway_file([gateway_line(txn_id=a["txn_id"]), gateway_line(txn_id=a["txn_id"])])
    dry = reconcile(file, dry_run=True)
    assert dry.summary["matched_lines"] == 1 and _scratch_tables() == []
    run = reconcile(file)
    assert run.summary["matched_lines"] == 1 and _scratch_tables() == []

    def broken(**kwargs):
        raise RuntimeError("leftover step failed")

    monkeypatch.setattr(matching, "stage_leftovers", broken)
    with pytest.raises(RuntimeError, match="leftover step failed"):
        reconcile(file)
    assert _scratch_tables() == []
