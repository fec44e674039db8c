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


@pytest.mark.parametrize("streamed", [False, True], ids=["bulk", "streamed"])
def test_import_records_which_references_the_lines_carry(gateway_file, streamed):
    lines = [gateway_line(txn_id=f"T{i}") for i in range(5)] + [gateway_line(txn_id="T9", utr="UTR-9")]
    if streamed:
        lines.append(gateway_line(txn_id="T10", mode="UPI, intent"))  # a quoted field: streamed
    record = gateway_file(lines)
    record.refresh_from_db()
    # No line has a Reference Id (pg_txn_id): a run skips the rules on it without reading the lines.
    assert record.carried_references == ["settlement_utr", "txn_id"]


def test_a_reference_only_a_line_python_reads_carries_is_recorded(gateway_file):
    # The bulk path hands the line with a padded amount to Python; its Reference Id counts.
    padded = gateway_line(txn_id="T2", pg_txn_id="PG-2")
    padded[2] = " 5.00"
    record = gateway_file([gateway_line(txn_id="T1"), padded])
    record.refresh_from_db()
    assert record.carried_references == ["pg_txn_id", "txn_id"]
    assert SettlementEntry.objects.get(file=record, line_no=3).pg_txn_id == "PG-2"


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


# --- The bulk CSV path (csv_bulk + SQL) gives exactly what streaming the file gives ----------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_REF = ["T1", "T2", " T3 ", "NA", "null", "", "-", "x" * 101, "Ü1", "  REF-12345 ", " " + "z" * 100 + " ", "NA   ",
        "Ü" * 3, "REF-9 ", "A\\B", "\\N", "\\.", "T\\"]  # backslashes: COPY's text format's escape
_MONEY = ["10.00", "5", "-3.5", "", "1e3", "+5", "abc", "10.123", "000000000001", "99999999999.99", "123456789012",
          " 7.25"]  # fmt: skip
_WHEN = ["20-11-2026 10:00:00", "21-11-2026 10:00", " 19-11-2026 23:59:59.5 ", "31-02-2026 10:00:00", "20-11-2026",
         "20-11-2026 25:00", "", "2026-11-20 10:00:00"]  # fmt: skip
_STATUS = ["SUCCESS", "failed", " paid ", "", "maybe", "NA", "Settled"]
_MODE = ["UPI", "", "Credit Card", "x" * 101, " NA ", " Net Banking ", "null  ", "\\"]
_LINE = st.tuples(st.sampled_from(_REF), st.sampled_from(_REF), st.sampled_from(_MONEY), st.sampled_from(_MONEY),
                  st.sampled_from(_MONEY), st.sampled_from(_MONEY), st.sampled_from(_REF), st.sampled_from(_WHEN),
                  st.sampled_from(_MODE), st.sampled_from(_STATUS)).map(list)  # fmt: skip
_ODD = st.sampled_from([[], ["T9", "10.00"], ["T9", "", "1", "0", "0", "1", "", "20-11-2026 10:00:00", "UPI", "SUCCESS", "extra"]])


def _snapshot(record) -> tuple:
    entries = list(SettlementEntry.objects.filter(file=record).order_by("line_no").values_list(
        "line_no", "txn_id", "bank_txn_id", "pg_txn_id", "client_txn_id", "settlement_utr", "amount", "fee", "tax", "net",
        "has_fee_info", "txn_date", "status", "payment_mode"))  # fmt: skip
    report = list(QuarantinedRow.objects.filter(file=record).order_by("line_no").values_list("line_no", "raw", "errors"))
    summary = (record.status, record.rows_read, record.rows_imported, record.rows_quarantined, record.rows_skipped,
               record.first_date, record.last_date, record.error)  # fmt: skip
    return summary, entries, report


def _import_both_ways(data: bytes, monkeypatch, bad_rows="quarantine") -> tuple:
    from enhancements.reconciliation import importing

    profile = MappingProfileRecord.objects.get(name="gateway-fee-plus-tax")
    results, paths = [], []
    for streamed in (False, True):
        messages: list[str] = []
        with monkeypatch.context() as patch:
            if streamed:
                patch.setattr(importing, "bulk_csv", lambda stream, profile: None)
            try:
                record = settlement_file_import(stream=io.BytesIO(data), original_name="f.csv", profile=profile,
                                                bad_rows=bad_rows, progress=messages.append)  # fmt: skip
            except (RejectedFileError, HeaderError, Exception) as exc:  # noqa: B014 - any refusal must match too
                record = getattr(exc, "record", None) or SettlementFile.objects.order_by("-pk").first()
                results.append((type(exc).__name__, str(exc), _snapshot(record)))
            else:
                results.append(("ok", "", _snapshot(record)))
        paths.append(not any("streaming the file instead" in m for m in messages))
        SettlementFile.objects.all().delete()
    return results[0], results[1], paths[0]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.one_of(_LINE, _LINE, _LINE, _ODD), max_size=12), st.sampled_from(["\n", "\r\n", None]),
       st.lists(st.booleans(), min_size=13, max_size=13), st.booleans())
def test_bulk_path_gives_what_streaming_gives(monkeypatch, lines, end, crlf, unterminated):
    # Every line ends in LF, or every line in CR LF, or (None) each in either (crlf[n]).
    ends = [end or ("\r\n" if crlf[n] else "\n") for n in range(len(lines) + 1)]
    body = "".join(",".join(cells) + end for cells, end in zip([GATEWAY_HEADER, *lines], ends, strict=True))
    data = (body[: -len(ends[-1])] if unterminated else body).encode("utf-8")
    bulk, streamed, _ = _import_both_ways(data, monkeypatch)
    assert bulk == streamed


def test_bulk_path_takes_clean_files_and_mixed_lines(monkeypatch):
    lines = [gateway_line(txn_id=f"T{i}", amount=f"{i}.50", fee="0.10", tax="0.02", net=None) for i in range(300)]
    lines[7] = gateway_line(txn_id="Ü7")  # non-ASCII: Python reads the line
    lines[8] = ["T8", "10.00"]  # wrong column count
    lines[9] = gateway_line(txn_id="T9", status="unknown-word")  # clean shape, refused in SQL, reported by Python
    lines[10] = gateway_line(txn_id="T10", amount="+5.00")  # clean-looking to Python's general path only
    data = csv_bytes(GATEWAY_HEADER, lines)  # csv.writer ends lines with CR LF
    bulk, streamed, used_bulk = _import_both_ways(data, monkeypatch)
    assert used_bulk and bulk == streamed
    summary, entries, report = bulk[2]
    assert summary[:5] == ("imported", 300, 298, 2, 0)
    assert [line_no for line_no, *_ in report] == [10, 11]
    assert next(e for e in entries if e[0] == 12)[6] == Decimal("5.00")


@pytest.mark.parametrize("padded", [False, True])
def test_bulk_path_reads_cells_with_or_without_spaces_around_them_like_streaming(monkeypatch, padded):
    # Cells are trimmed in SQL only when some cell of the file may start or end with a space
    # (csv_bulk's plan.padded); either way absent words, over-long texts and references come
    # out as streaming gives them.
    from enhancements.reconciliation import importing

    seen = []
    real = importing._BulkSql
    monkeypatch.setattr(importing, "_BulkSql", lambda plan, names: seen.append(plan.padded) or real(plan, names))
    lines = [gateway_line(txn_id=f"T{i}", pg_txn_id="P1" if i % 3 else "NA", utr="null" if i % 2 else "U-7",
                          mode="Debit Card" if i % 4 else "-") for i in range(12)]  # fmt: skip
    lines[5] = gateway_line(txn_id="x" * 101)
    lines[6] = gateway_line(txn_id="-", pg_txn_id="na")  # no reference at all
    if padded:
        lines[9] = gateway_line(txn_id=" T9 ", mode="UPI ")
    bulk, streamed, used_bulk = _import_both_ways(csv_bytes(GATEWAY_HEADER, lines), monkeypatch)
    assert used_bulk and seen == [padded] and bulk == streamed
    summary, entries, report = bulk[2]
    assert summary[:4] == ("imported", 12, 10, 2) and [line_no for line_no, *_ in report] == [7, 8]
    # (line_no, txn_id, bank_txn_id, pg_txn_id, client_txn_id, settlement_utr, ..., payment_mode)
    by_line = {e[0]: (e[1], e[3], e[5], e[13]) for e in entries}
    assert by_line[2] == ("T0", None, "U-7", None)  # "NA" and "-" are absent
    assert by_line[3] == ("T1", "P1", None, "Debit Card")  # so is "null"
    assert by_line[11] == ("T9", None, None, "UPI" if padded else "Debit Card")


def test_bulk_path_keeps_backslashes_as_they_are(monkeypatch):
    # COPY's text format reads a backslash as an escape: csv_bulk sends each one doubled.
    lines = [gateway_line(txn_id=f"T{i}") for i in range(5)]
    lines[1] = gateway_line(txn_id="A\\B", mode="\\N")
    lines[2] = gateway_line(txn_id="T\\", pg_txn_id="\\.")
    bulk, streamed, used_bulk = _import_both_ways(csv_bytes(GATEWAY_HEADER, lines), monkeypatch)
    assert used_bulk and bulk == streamed
    by_line = {e[0]: (e[1], e[3], e[13]) for e in bulk[2][1]}
    assert by_line[3] == ("A\\B", None, "\\N") and by_line[4] == ("T\\", "\\.", "UPI")


def test_bulk_path_quarantines_an_over_long_reference_instead_of_cutting_it(monkeypatch):
    # The staged columns hold 100 characters; the bulk path's SQL refuses a longer cell (Python
    # then reports it), so the cast into the partition never meets one to cut short.
    lines = [gateway_line(txn_id=f"T{i}") for i in range(20)]
    lines[5] = gateway_line(txn_id="x" * 101)
    lines[6] = gateway_line(txn_id="T6", mode="m" * 101)
    lines[7] = gateway_line(txn_id="y" * 100)  # at the limit: kept whole
    bulk, streamed, used_bulk = _import_both_ways(csv_bytes(GATEWAY_HEADER, lines), monkeypatch)
    assert used_bulk and bulk == streamed
    summary, entries, report = bulk[2]
    assert summary[:4] == ("imported", 20, 18, 2)
    assert [(line_no, errors) for line_no, _, errors in report] == [
        (7, "txn_id: longer than 100 characters"), (8, "payment_mode: longer than 100 characters")]
    assert next(e for e in entries if e[0] == 9)[1] == "y" * 100


@pytest.mark.parametrize("data", [
    csv_bytes(GATEWAY_HEADER, [gateway_line(txn_id="T1"), gateway_line(txn_id="T,2")]),  # a quoted field
    ",".join(GATEWAY_HEADER).encode() + b"\n" + ",".join(gateway_line(txn_id="T1")).encode() + b"\rX\n",  # lone CR
])  # fmt: skip
def test_files_the_bulk_path_cannot_prove_are_streamed(monkeypatch, data):
    bulk, streamed, used_bulk = _import_both_ways(data, monkeypatch)
    assert not used_bulk and bulk == streamed


def test_bulk_path_refuses_a_header_only_file_like_streaming(monkeypatch):
    data = (",".join(GATEWAY_HEADER) + "\n\n").encode()
    bulk, streamed, _ = _import_both_ways(data, monkeypatch)
    assert bulk == streamed and bulk[0] == "EmptyFileError"
