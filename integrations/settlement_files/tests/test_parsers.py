"""Each format parses into canonical entries; bad lines become row errors; any bytes are safe."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.settlement_files import (
    BUILTIN_PROFILES,
    EmptyFileError,
    FileFormatError,
    HeaderError,
    MappingProfile,
    ParsedRow,
    ProfileError,
    RowError,
    SettlementFileError,
    SkippedRow,
    parse,
)

BANK = BUILTIN_PROFILES["generic-bank-csv"]
FEE_INCL = BUILTIN_PROFILES["gateway-fee-incl-gst"]
FEE_PLUS = BUILTIN_PROFILES["gateway-fee-plus-tax"]
XLSX = BUILTIN_PROFILES["generic-bank-xlsx"]
MT940 = BUILTIN_PROFILES["mt940-bank-statement"]


def items(data: bytes, profile: MappingProfile) -> list:
    return list(parse(io.BytesIO(data), profile))


def rows(data: bytes, profile: MappingProfile) -> list[dict]:
    return [i.as_dict() for i in items(data, profile) if isinstance(i, ParsedRow)]


def test_generic_bank_csv_maps_headers_dates_and_status():
    data = (
        "Bank Ref No,Merchant Txn Ref,Amount,Txn Date,Status,Channel\r\n"
        "BNK1,T1,\"1,234.50\",20/11/2026,Success,UPI\r\n"
        "BNK2,T2,99,21-11-2026,FAILED,NB\r\n"
    ).encode()
    first, second = rows(data, BANK)
    assert first["bank_txn_id"] == "BNK1" and first["txn_id"] == "T1"
    assert first["amount"] == Decimal("1234.50") and first["net"] == Decimal("1234.50")
    assert first["has_fee_info"] is False
    assert first["txn_date"] == dt.date(2026, 11, 20) and first["status"] == "SUCCESS"
    assert second["txn_date"] == dt.date(2026, 11, 21) and second["status"] == "FAILED"


def test_fee_including_gst_report_in_paise_nets_fee_only():
    # Razorpay-style: fee 2360 paise already includes tax 360 paise.
    data = (
        "entity_id,order_receipt,amount,fee,tax,settlement_utr,created_at,type,method\n"
        "pay_1,ORD-1,100000,2360,360,UTR1,2026-11-20 10:30:00,payment,card\n"
    ).encode()
    (row,) = rows(data, FEE_INCL)
    assert row["amount"] == Decimal("1000.00") and row["fee"] == Decimal("23.60") and row["tax"] == Decimal("3.60")
    assert row["net"] == Decimal("976.40") and row["has_fee_info"] is True
    assert row["pg_txn_id"] == "pay_1" and row["client_txn_id"] == "ORD-1" and row["settlement_utr"] == "UTR1"


def test_fee_plus_tax_report_deducts_both_and_reads_its_settlement_amount():
    header = "Order Id,Reference Id,Transaction Amount,Service Charge,Service Tax,Settlement Amount,UTR,Transaction Time,Payment Mode,Transaction Status\n"
    data = (header + "T9,R9,1000.00,20.00,3.60,976.40,UTR9,20-11-2026 10:00:00,UPI,SUCCESS\n").encode()
    (row,) = rows(data, FEE_PLUS)
    assert row["net"] == Decimal("976.40") and row["fee"] == Decimal("20.00") and row["tax"] == Decimal("3.60")
    no_net = MappingProfile.from_dict({**_profile_dict(FEE_PLUS), "columns": {k: v for k, v in FEE_PLUS.columns.items() if k != "net"}})
    (row,) = rows(data, no_net)
    assert row["net"] == Decimal("976.40")  # 1000 - 20 - 3.60


def _profile_dict(profile: MappingProfile) -> dict:
    import dataclasses

    return dataclasses.asdict(profile)


def test_malformed_lines_become_row_errors_and_good_lines_survive():
    data = (
        b"Bank Ref No,Merchant Txn Ref,Amount,Txn Date,Status,Channel\n"
        b"BNK1,T1,100.00,20/11/2026,SUCCESS,UPI\n"
        b"BNK2,T2,abc,20/11/2026,SUCCESS,UPI\n"          # non-numeric amount
        b"BNK3,T3,100,2026/13/45,SUCCESS,UPI\n"          # bad date
        b",,100,20/11/2026,SUCCESS,UPI\n"                 # missing reference
        b"BNK5,T5,100,20/11/2026\n"                       # wrong column count
        b"BNK\xff\xfe6,T6,100,20/11/2026,SUCCESS,UPI\n"   # wrong encoding
        b"BNK7,T7,100,20/11/2026,MAYBE,UPI\n"            # unknown status
        b"BNK8,T8,100,20/11/2026,SUCCESS,UPI\n"
        b"BNK9,T9,100000000000000000000000000,20/11/2026,SUCCESS,UPI\n"  # more digits than Decimal rounds
    )
    result = items(data, BANK)
    good = [i for i in result if isinstance(i, ParsedRow)]
    bad = {i.line_no: i.message for i in result if isinstance(i, RowError)}
    assert [g.as_dict()["txn_id"] for g in good] == ["T1", "T8"]
    assert "not an amount in rupees" in bad[3]
    assert "matches none of the formats" in bad[4]
    assert "missing reference" in bad[5]
    assert "wrong column count: 4 instead of 6" in bad[6]
    assert "not valid in the file's encoding" in bad[7]
    assert "unknown value 'MAYBE'" in bad[8]
    assert "'100000000000000000000000000' is out of range" in bad[10]


def test_header_problems_reject_the_whole_file():
    with pytest.raises(HeaderError, match="'Amount'"):
        items(b"Bank Ref No,Merchant Txn Ref,Txn Date,Status,Channel\nB,T,20/11/2026,S,U\n", BANK)
    with pytest.raises(EmptyFileError):
        items(b"", BANK)
    with pytest.raises(EmptyFileError):
        items(b"Bank Ref No,Merchant Txn Ref,Amount,Txn Date,Status,Channel\n", BANK)


def test_profile_validation_names_the_problem():
    with pytest.raises(ProfileError, match="unknown canonical field"):
        MappingProfile(name="x", source="s", file_format="csv", columns={"txn_id": "a", "amount": "b", "colour": "c"})
    with pytest.raises(ProfileError, match="reference"):
        MappingProfile(name="x", source="s", file_format="csv", columns={"amount": "b"})


def _xlsx(rows_: list[list]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for r in rows_:
        sheet.append(r)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_reads_typed_cells_and_reports_bad_ones():
    data = _xlsx([
        ["Bank Ref No", "Merchant Txn Ref", "Amount", "Txn Date", "Status", "Channel"],
        ["BNK1", "T1", 1234.5, dt.datetime(2026, 11, 20, 10, 0), "SUCCESS", "UPI"],
        ["BNK2", "T2", "12,00x", "20/11/2026", "SUCCESS", "UPI"],
        [None, None, None, None, None, None],
        ["BNK3", "T3", 50, "2026-11-21", "FAILED", "NB"],
    ])  # fmt: skip
    result = items(data, XLSX)
    good = [i.as_dict() for i in result if isinstance(i, ParsedRow)]
    assert [(g["txn_id"], g["amount"], g["txn_date"]) for g in good] == [
        ("T1", Decimal("1234.50"), dt.date(2026, 11, 20)), ("T3", Decimal("50.00"), dt.date(2026, 11, 21))
    ]
    assert [i.line_no for i in result if isinstance(i, RowError)] == [3]
    assert any(isinstance(i, SkippedRow) for i in result)
    with pytest.raises(FileFormatError, match="not an XLSX"):
        items(b"Bank Ref No,Amount\n", XLSX)


STATEMENT = """:20:STMT1
:25:HDFC0001/123456789
:28C:00001/001
:60F:C261120INR1000,00
:61:2611201120C1500,50NTRFUTR26112000001//BNKREF1
:86:NEFT CR UTR26112000001 SETTLEMENT
:61:2611211121D200,00NTRFCHG1//BNKREF2
:86:Charges
:61:2611211121C99,00NTRFUTR26112100002//NONREF
:62F:C261121INR2399,50
"""


def test_mt940_credits_become_entries_keyed_by_utr_and_debits_are_skipped():
    result = items(STATEMENT.encode(), MT940)
    good = [i.as_dict() for i in result if isinstance(i, ParsedRow)]
    assert [(g["settlement_utr"], g["bank_txn_id"], g["amount"], g["txn_date"]) for g in good] == [
        ("UTR26112000001", "BNKREF1", Decimal("1500.50"), dt.date(2026, 11, 20)),
        ("UTR26112100002", None, Decimal("99.00"), dt.date(2026, 11, 21)),
    ]
    assert [s.reason for s in result if isinstance(s, SkippedRow)] == ["debit line (not a settlement credit)"]
    with pytest.raises(FileFormatError, match="no :61:"):
        items(b"Bank Ref No,Amount\n1,2\n", MT940)


def _drain(data: bytes, profile: MappingProfile) -> None:
    try:
        for item in parse(io.BytesIO(data), profile):
            assert isinstance(item, (ParsedRow, RowError, SkippedRow))
    except SettlementFileError as exc:
        assert str(exc)


CSV_HEADER = b"Bank Ref No,Merchant Txn Ref,Amount,Txn Date,Status,Channel\n"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_fuzz_csv_parsers_never_crash(data):
    _drain(data, BANK)
    _drain(CSV_HEADER + data, BANK)
    _drain(b"entity_id,order_receipt,amount,fee,tax,settlement_utr,created_at,type,method\n" + data, FEE_INCL)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_fuzz_mt940_and_xlsx_never_crash(data):
    _drain(data, MT940)
    _drain(STATEMENT.encode()[:120] + data, MT940)
    _drain(data, XLSX)


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=1, max_size=64), st.integers(min_value=0, max_value=4000))
def test_fuzz_corrupted_xlsx_never_crashes(noise, position):
    valid = _xlsx([["Bank Ref No", "Merchant Txn Ref", "Amount", "Txn Date", "Status", "Channel"],
                   ["B", "T", 1, "20/11/2026", "SUCCESS", "UPI"]])  # fmt: skip
    position = position % len(valid)
    _drain(valid[:position] + noise + valid[position + len(noise):], XLSX)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=30), min_size=6, max_size=6))
def test_fuzz_csv_cells_yield_row_or_error(cells):
    import csv

    out = io.StringIO()
    csv.writer(out).writerow(cells)
    result = items(CSV_HEADER + out.getvalue().encode("utf-8", "surrogatepass"), BANK)
    for item in result:
        if isinstance(item, ParsedRow):
            values = item.as_dict()
            assert any(values[f] for f in ("bank_txn_id", "txn_id"))
            assert all("\x00" not in str(v) for v in values.values())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["", " ", "T1", "NA", "100", "100.5", "1,000.00", "-5", "abc", "20/11/2026",
                                 "20/11/2026 10:00:00", "20/11/2026 25:00", "SUCCESS", "maybe", "x" * 101, "\x00"]),
                min_size=6, max_size=6))  # fmt: skip
def test_fast_path_agrees_with_the_general_path(cells):
    from integrations.settlement_files.rows import RowBuilder, fast_csv_builder

    index = {f: i for i, f in enumerate(("bank_txn_id", "txn_id", "amount", "txn_date", "status", "payment_mode"))}
    builder = RowBuilder(BANK)
    fast = fast_csv_builder(builder, index)(list(cells))
    slow = builder.build(2, {f: cells[i] for f, i in index.items()}, ",".join(cells))
    if fast is not None:
        assert isinstance(slow, ParsedRow) and slow.values == fast


def test_bulk_plan_only_for_files_it_can_prove_equal_to_streaming():
    import dataclasses

    from integrations.settlement_files.csv_bulk import bulk_csv

    header = b"Bank Ref No,Merchant Txn Ref,Amount,Txn Date,Status,Channel\n"
    assert bulk_csv(io.BytesIO(header + b"B1,T1,10,20/11/2026,SUCCESS,UPI\n"), BANK) is not None
    assert bulk_csv(io.BytesIO(b'"Bank Ref No",' + header[12:]), BANK) is None  # quoted header: stream it
    assert bulk_csv(io.BytesIO(header), dataclasses.replace(BANK, encoding="utf-16")) is None
    assert bulk_csv(io.BytesIO(b"x"), XLSX) is None
    with pytest.raises(HeaderError, match="lacks column"):
        bulk_csv(io.BytesIO(b"Order,Amount\n1,2\n"), BANK)


def test_bulk_blocks_keep_line_numbers_and_read_other_lines_like_streaming():
    from integrations.settlement_files.csv_bulk import PLACEHOLDER_MARK, NotBulkLoadable, bulk_csv

    header = b"Order Id,Reference Id,Transaction Amount,Service Charge,Service Tax,Settlement Amount,UTR,Transaction Time,Payment Mode,Transaction Status\r\n"
    clean = b"T1,,10.00,0.10,0.02,9.88,,20-11-2026 10:00:00,UPI,SUCCESS\r\n"
    odd = "T\u00dc,,10.00,0,0,10.00,,20-11-2026 10:00:00,UPI,SUCCESS\r\n".encode()
    data = header + clean + odd + b"\r\n" + clean
    plan = bulk_csv(io.BytesIO(data), FEE_PLUS)
    copied = b"".join(plan.blocks(io.BytesIO(data)))
    # COPY reads the header's line end throughout: CR LF here, kept (every line, the
    # placeholders Python's lines leave included).
    assert plan.newline == b"\r\n" and copied.count(b"\n") == copied.count(b"\r\n") == 4
    lines = copied.split(b"\r\n")
    assert len(lines) == 5 and lines[0] == clean[:-2] and lines[1].startswith(PLACEHOLDER_MARK.encode()) and lines[4] == b""
    streamed = [i for i in items(data, FEE_PLUS) if i.line_no in (3, 4)]
    assert plan.python_items == streamed and (plan.data_rows, plan.clean_lines) == (3, 2)
    with pytest.raises(NotBulkLoadable):
        list(plan.blocks(io.BytesIO(header + b'T1,"a\nb",1,0,0,1,,20-11-2026 10:00:00,UPI,SUCCESS\n')))


@pytest.mark.parametrize(("body", "padded"), [
    (b"T1,,10.00,0.10,0.02,9.88,,20-11-2026 10:00:00,Debit Card,SUCCESS\n", False),  # inner spaces only
    (b" T1,,10.00,0.10,0.02,9.88,,20-11-2026 10:00:00,UPI,SUCCESS\n", True),  # first cell of a block
    (b"T1, R1,10.00,0.10,0.02,9.88,,20-11-2026 10:00:00,UPI,SUCCESS\n", True),  # after a delimiter
    (b"T1,,10.00,0.10,0.02,9.88,U1 ,20-11-2026 10:00:00,UPI,SUCCESS\n", True),  # before a delimiter
    (b"T1,,10.00,0.10,0.02,9.88,,20-11-2026 10:00:00,UPI,SUCCESS \n", True),  # before LF
    (b"T1,,10.00,0.10,0.02,9.88,,20-11-2026 10:00:00,UPI,SUCCESS \r\n", True),  # before CR LF
    (b"T1,,1,0,0,1,,20-11-2026 10:00:00,UPI,SUCCESS\nT2,,1,0,0,1,,20-11-2026 10:00:00,UPI,SUCCESS\n T3,,1,0,0,1,,"
     b"20-11-2026 10:00:00,UPI,SUCCESS\n", True),  # first cell of a later line
    ("T\u00dc ,,1,0,0,1,,20-11-2026 10:00:00,UPI,SUCCESS\n".encode(), False),  # only in a line Python reads
    (b"T1,,10.00,0.10,0.02,9.88,,20-11-2026 10:00:00 ,UPI,SUCCESS\n", True),  # a date cell
    ("T\u00dc,,1,0,0,1,,20-11-2026 10:00:00,UPI,SUCCESS\nT2,,1,0,0,1,,20-11-2026 10:00:00,UPI ,SUCCESS\n".encode(),
     True),  # beside a line Python reads (the block is read line by line)
])  # fmt: skip
def test_bulk_plan_notes_whether_a_cell_copy_gets_may_be_padded(body, padded):
    # The SQL conversion trims cells only when some text or date cell COPY gets starts or ends
    # with a space.
    from integrations.settlement_files.csv_bulk import bulk_csv

    header = b"Order Id,Reference Id,Transaction Amount,Service Charge,Service Tax,Settlement Amount,UTR,Transaction Time,Payment Mode,Transaction Status\n"
    plan = bulk_csv(io.BytesIO(header + body), FEE_PLUS)
    b"".join(plan.blocks(io.BytesIO(header + body)))
    assert plan.padded is padded


@pytest.mark.parametrize("padded_line", [True, False])
def test_bulk_blocks_of_any_size_give_the_same_lines(monkeypatch, padded_line):
    # Blocks end anywhere in the file: a run of plain lines, then a line Python reads or one with
    # a cell padded with spaces, in the same block or in a later one; the lines COPY gets, the
    # lines Python reads and whether cells are padded do not depend on where the blocks end.
    from integrations.settlement_files import csv_bulk

    header = b"Order Id,Reference Id,Transaction Amount,Service Charge,Service Tax,Settlement Amount,UTR,Transaction Time,Payment Mode,Transaction Status\n"
    lines = [b"T%d,,10.00,0.10,0.02,9.88,,20-11-2026 10:00:00,Debit Card,SUCCESS\n" % n for n in range(40)]
    lines[12] = "T\u00dc12,,1,0,0,1,,20-11-2026 10:00:00,UPI,SUCCESS\n".encode()
    lines[33] = b"T33,,10.00\n"
    if padded_line:
        lines[25] = b"T25,,10.00,0.10,0.02,9.88,,20-11-2026 10:00:00,UPI ,SUCCESS\n"
    data = header + b"".join(lines)
    seen = set()
    for size in (1 << 20, 1000, 150, 64):
        monkeypatch.setattr(csv_bulk, "BLOCK", size)
        plan = csv_bulk.bulk_csv(io.BytesIO(data), FEE_PLUS)
        copied = b"".join(plan.blocks(io.BytesIO(data)))
        seen.add((copied, plan.padded, tuple(plan.python_items), plan.clean_lines, plan.data_rows))
    assert len(seen) == 1
    copied, padded, python_items, clean_lines, data_rows = seen.pop()
    assert padded is padded_line and (clean_lines, data_rows) == (38, 40)
    assert [item.line_no for item in python_items] == [14, 35]
    assert copied.split(b"\n")[12].startswith(csv_bulk.PLACEHOLDER_MARK.encode())
