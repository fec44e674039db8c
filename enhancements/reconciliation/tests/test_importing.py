"""Importing files: COPY into staging, hash + duplicate detection, bad-row modes, formats."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from decimal import Decimal

import openpyxl
import pytest

from integrations.settlement_files import HeaderError
from enhancements.reconciliation.models import MappingProfileRecord, QuarantinedRow, ReconResult, SettlementEntry, SettlementFile
from enhancements.reconciliation.services import DuplicateFileError, RejectedFileError, settlement_file_import

from .conftest import GATEWAY_HEADER, csv_bytes, gateway_line

pytestmark = pytest.mark.django_db(databases=["default", "core"])

BAD = csv_bytes(GATEWAY_HEADER, [
    gateway_line(txn_id="T1"),
    ["T2", "", "ten", "0", "0", "10", "", "20-11-2026 10:00:00", "UPI", "SUCCESS"],        # amount
    ["T3", "", "10.00", "0", "0", "10", "", "2026-31-31 10:00", "UPI", "SUCCESS"],         # date
    ["", "", "10.00", "0", "0", "10", "", "20-11-2026 10:00:00", "UPI", "SUCCESS"],        # reference
    ["T5", "10.00"],                                                                        # column count
    gateway_line(txn_id="T6"),
]) + "T7,,10.00,0,0,10,,20-11-2026 10:00:00,UPI,SUCC\xe9S\n".encode("latin-1")           # encoding  # fmt: skip


def test_import_streams_lines_into_staging_and_records_the_upload(gateway_file, operator):
    data_lines = [gateway_line(txn_id=f"T{i}", amount=f"{100 + i}.25", fee="1.00", tax="0.18") for i in range(50)]
    data = csv_bytes(GATEWAY_HEADER, data_lines)
    record = gateway_file(data_lines)
    assert record.status == "imported" and record.uploaded_by == operator
    assert record.sha256 == hashlib.sha256(data).hexdigest() and record.size_bytes == len(data)
    assert (record.rows_read, record.rows_imported, record.rows_quarantined) == (50, 50, 0)
    assert record.first_date == record.last_date == dt.date(2026, 11, 20)
    entry = SettlementEntry.objects.get(file=record, txn_id="T7")
    assert (entry.line_no, entry.amount, entry.fee, entry.tax) == (9, Decimal("107.25"), Decimal("1.00"), Decimal("0.18"))
    assert entry.net == Decimal("107.25")  # the file's own Settlement Amount column


def test_same_file_twice_is_refused_naming_the_first_upload(gateway_file):
    lines = [gateway_line(txn_id="T1")]
    first = gateway_file(lines)
    with pytest.raises(DuplicateFileError, match=f"file #{first.pk}.*ops1"):
        gateway_file(lines, name="renamed.csv")
    assert SettlementFile.objects.count() == 1 and SettlementEntry.objects.count() == 1


def test_quarantine_mode_imports_good_rows_and_reports_bad_ones(import_file):
    record = import_file(BAD, bad_rows="quarantine")
    assert (record.status, record.rows_imported, record.rows_quarantined) == ("imported", 2, 5)
    assert sorted(SettlementEntry.objects.filter(file=record).values_list("txn_id", flat=True)) == ["T1", "T6"]
    report = {q.line_no: q.errors for q in QuarantinedRow.objects.filter(file=record)}
    assert sorted(report) == [3, 4, 5, 6, 8]
    assert "not an amount" in report[3] and "matches none of the formats" in report[4]
    assert "missing reference" in report[5] and "wrong column count" in report[6]
    assert "not valid in the file's encoding" in report[8]
    assert "\\xe9" in QuarantinedRow.objects.get(file=record, line_no=8).raw


def test_all_or_nothing_mode_imports_nothing_but_keeps_the_report(import_file):
    with pytest.raises(RejectedFileError, match="5 of 7 rows are bad") as caught:
        import_file(BAD, bad_rows="all_or_nothing")
    record = caught.value.record
    assert SettlementFile.objects.get(pk=record.pk).status == "rejected"
    assert SettlementEntry.objects.count() == 0
    assert QuarantinedRow.objects.filter(file=record).count() == 5
    # A rejected file does not block the corrected retry of the same bytes in quarantine mode.
    assert import_file(BAD, bad_rows="quarantine").rows_imported == 2


def test_unreadable_file_is_rejected_with_a_clear_error(import_file):
    with pytest.raises(HeaderError, match="lacks column"):
        import_file(b"Order,Amount\n1,2\n")
    (record,) = SettlementFile.objects.all()
    assert record.status == "rejected" and "lacks column" in record.error


def test_progress_is_reported(gateway_file, monkeypatch):
    from enhancements.reconciliation import importing

    monkeypatch.setattr(importing, "PROGRESS_EVERY", 10)
    messages = []
    data = csv_bytes(GATEWAY_HEADER, [gateway_line(txn_id=f"P{i}") for i in range(25)])
    settlement_file_import(stream=io.BytesIO(data), original_name="p.csv", progress=messages.append,
                           profile=MappingProfileRecord.objects.get(name="gateway-fee-plus-tax"))  # fmt: skip
    assert messages[:2] == ["read 10 rows (0 bad)", "read 20 rows (0 bad)"] and "imported 25 rows" in messages[-1]


def test_xlsx_file_imports_and_reconciles(core_rows, import_file, rules, reconcile):
    rules({"reference": "txn_id"})
    t = core_rows.transaction(paid_amount=2500.0)
    book = openpyxl.Workbook()
    book.active.append(["Bank Ref No", "Merchant Txn Ref", "Amount", "Txn Date", "Status", "Channel"])
    book.active.append(["BNK1", t["txn_id"], 2500, dt.datetime(2026, 11, 20), "SUCCESS", "UPI"])
    out = io.BytesIO()
    book.save(out)
    record = import_file(out.getvalue(), profile="generic-bank-xlsx", name="bank.xlsx")
    run = reconcile(record)
    assert ReconResult.objects.get(run=run).outcome == "MATCHED"


def test_mt940_statement_reconciles_utr_batches(core_rows, import_file, rules, reconcile):
    rules({"kind": "one_to_many", "reference": "settlement_utr"})
    batch = [core_rows.transaction(settlement_utr="UTR26112000001", paid_amount=750.25) for _ in range(2)]
    statement = (
        ":20:STMT1\n:25:HDFC0001/123456789\n:28C:00001/001\n:60F:C261120INR0,00\n"
        ":61:2611201120C1500,50NTRFUTR26112000001//BNKREF1\n:86:NEFT CR SETTLEMENT\n"
        ":61:2611201120D10,00NTRFCHG1//BNKREF2\n:86:Charges\n:62F:C261120INR1490,50\n"
    ).encode()
    record = import_file(statement, profile="mt940-bank-statement", name="stmt.sta")
    assert (record.rows_imported, record.rows_skipped) == (1, 1)
    run = reconcile(record)
    assert sorted(ReconResult.objects.filter(run=run, outcome="MATCHED").values_list("txn_id", flat=True)) == sorted(
        t["txn_id"] for t in batch
    )


def test_import_command_reports_progress_and_reconciles(core_rows, rules, tmp_path, operator):
    from django.core.management import CommandError, call_command

    rules({"reference": "txn_id"})
    t = core_rows.transaction()
    path = tmp_path / "settle.csv"
    path.write_bytes(csv_bytes(GATEWAY_HEADER, [gateway_line(txn_id=t["txn_id"])]))
    out, err = io.StringIO(), io.StringIO()
    call_command("reconciliation_import", str(path), "--profile", "gateway-fee-plus-tax", "--user", "ops1",
                 "--reconcile", stdout=out, stderr=err)  # fmt: skip
    assert "imported 1 rows" in err.getvalue() and '"matched_lines": 1' in out.getvalue()
    assert SettlementFile.objects.get().uploaded_by == operator
    with pytest.raises(CommandError, match="already imported"):
        call_command("reconciliation_import", str(path), "--profile", "gateway-fee-plus-tax", stdout=out, stderr=err)
    with pytest.raises(CommandError, match="no profile 'nope'; saved profiles: .*generic-bank-csv"):
        call_command("reconciliation_import", str(path), "--profile", "nope")
