"""Each report's content, row by row, against hand-computed expectations on seeded core rows."""

import csv
import datetime as dt
import hashlib
import json
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from enhancements.compliance.models import Alert, ReportLog
from enhancements.compliance.reports.generate import monthly_reports_generate, report_generate
from enhancements.compliance.services import (
    WorkflowError,
    alert_escalate,
    alert_mark_for_str,
    alert_resolve,
    alert_start_review,
    report_mark_submitted,
)

from .conftest import OCT, ist, txn

pytestmark = pytest.mark.django_db(databases=["default", "core"])


@pytest.fixture(autouse=True)
def report_dir(settings, tmp_path):
    settings.COMPLIANCE_REPORT_DIR = tmp_path


def read_csv(log: ReportLog) -> list[dict]:
    with open(log.file_path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def read_xml(log: ReportLog) -> tuple[dict, list[dict]]:
    root = ET.parse(log.file_path).getroot()
    header = {e.tag: e.text or "" for e in root.find("Header")}
    return header, [{e.tag: e.text or "" for e in rec} for rec in root.find("Records")]


def assert_logged(log: ReportLog, rows: int):
    assert log.row_count == rows
    assert log.sha256 == hashlib.sha256(Path(log.file_path).read_bytes()).hexdigest()


def test_ctr_lists_every_cash_payment_of_merchants_above_ten_lakh_in_the_month(core_rows):
    a1 = txn(core_rows, 401, "600000.00", ist(2, 10), payment_mode="Challan", challan_no="CH1",
             payee_first_name="Asha", payee_lst_name="Rao")
    a2 = txn(core_rows, 401, "400000.50", ist(15, 11), payment_mode="Challan", challan_no="CH2")
    txn(core_rows, 401, "2000000.00", ist(3), payment_mode="UPI")  # not cash
    txn(core_rows, 402, "1000000.00", ist(4), payment_mode="Challan")  # exactly 10 lakh
    c1 = txn(core_rows, 403, "1500000.00", ist(5, 9, 30), payment_mode="Challan", status="SETTLED", sabpaisa_resp_code="0800")
    txn(core_rows, 403, "10000.00", ist(6), payment_mode="Challan", status="FAILED", sabpaisa_resp_code="0300")
    txn(core_rows, 401, "900000.00", ist(1, month=11), payment_mode="Challan")  # November
    log = report_generate(report_type="CTR", month=OCT, file_format="csv")
    rows = read_csv(log)
    assert [(r["client_code"], r["txn_id"], r["amount"], r["month_cash_total"], r["month_cash_count"]) for r in rows] == [
        ("TC401", a1["txn_id"], "600000.00", "1000000.50", "2"),
        ("TC401", a2["txn_id"], "400000.50", "1000000.50", "2"),
        ("TC403", c1["txn_id"], "1500000.00", "1500000.00", "1"),
    ]
    assert rows[0]["trans_date"] == "2026-10-02T10:00:00+05:30" and rows[0]["payer_name"] == "Asha Rao"
    assert rows[0]["report_month"] == "2026-10" and rows[1]["challan_no"] == "CH2"
    assert_logged(log, 3)
    assert log.due_on == dt.date(2026, 11, 15) and (log.period_start, log.period_end) == (OCT, dt.date(2026, 11, 1))
    xml_log = report_generate(report_type="CTR", month=OCT, file_format="xml")
    header, records = read_xml(xml_log)
    assert header["Threshold"] == "1000000.00" and "Rule 3(1)(B)" in header["Source"]
    assert [(r["TransactionId"], r["Amount"], r["MonthCashTotal"]) for r in records] == [
        (a1["txn_id"], "600000.00", "1000000.50"), (a2["txn_id"], "400000.50", "1000000.50"), (c1["txn_id"], "1500000.00", "1500000.00")]
    assert_logged(xml_log, 3)


def test_cbwtr_lists_cross_border_payments_above_five_lakh(core_rows):
    hit = txn(core_rows, 404, "500000.01", ist(7), payment_mode="International Card", card_brand="VISA", bank_txn_id="B1")
    txn(core_rows, 404, "500000.00", ist(7), payment_mode="International Card")
    txn(core_rows, 404, "900000.00", ist(7), payment_mode="Credit Card")
    txn(core_rows, 404, "800000.00", ist(2, month=11), payment_mode="International Card")
    log = report_generate(report_type="CBWTR", month=OCT, file_format="json")
    data = json.loads(Path(log.file_path).read_text())
    assert data["record_count"] == 1 and data["meta"]["Threshold"] == "500000.00"
    (record,) = data["records"]
    assert (record["txn_id"], record["amount"], record["card_brand"], record["bank_txn_id"]) == (hit["txn_id"], "500000.01", "VISA", "B1")
    assert_logged(log, 1)


def test_tat_report_lists_reversals_and_refunds_past_their_tat_with_compensation(core_rows):
    late = txn(core_rows, 405, "500.00", ist(10), payment_mode="UPI", status="FAILED", sabpaisa_resp_code="0300")
    txn(core_rows, 405, "800.00", ist(10), payment_mode="Debit Card", status="FAILED", sabpaisa_resp_code="0300",
        refunded_date=ist(14))  # reversed within T+5
    txn(core_rows, 405, "0.00", ist(10), payment_mode="Net Banking", status="FAILED", sabpaisa_resp_code="0300")
    refund = txn(core_rows, 405, "300.00", ist(1), payment_mode="Wallet", status="REFUNDED", sabpaisa_resp_code="0700",
                 refund_amount=300.0, refund_initiated_on=ist(3), refunded_date=ist(12))
    log = report_generate(report_type="TAT", month=OCT, file_format="csv", as_of=dt.date(2026, 10, 20))
    rows = read_csv(log)
    assert [(r["kind"], r["txn_id"], r["channel"], r["start_date"], r["tat_deadline"], r["resolved_on"], r["days_late"],
             r["compensation_due"]) for r in rows] == [
        ("REFUND", refund["txn_id"], "PPI_ON_US", "2026-10-03", "2026-10-04", "2026-10-12", "8", "800.00"),
        ("REVERSAL", late["txn_id"], "UPI_P2M", "2026-10-10", "2026-10-15", "", "5", "500.00"),
    ]  # fmt: skip
    assert_logged(log, 2)


def test_str_report_carries_grounds_and_linked_transactions(core_rows, operator):
    t1 = txn(core_rows, 406, "950000.00", ist(9, 9), payee_first_name="Ravi", payee_lst_name="K")
    t2 = txn(core_rows, 406, "990000.00", ist(9, 15))
    alert = Alert.objects.create(
        rule_code="STRUCTURING", severity="HIGH", entity_type="PAYER", entity_key="h", entity_display="ra***@x",
        window_key="1440m@2026-10-09T00:00", window_start=timezone.now(), window_end=timezone.now(), client_id=406,
        client_code="TC406", threshold="3 payments", evidence={"txn_ids": [t2["txn_id"], t1["txn_id"]]})
    with pytest.raises(WorkflowError, match="marked for STR"):
        report_generate(report_type="STR", alert=alert, file_format="xml")
    alert_start_review(alert_id=alert.pk, actor=operator)
    alert_escalate(alert_id=alert.pk, actor=operator, reason="pattern")
    alert = alert_mark_for_str(alert_id=alert.pk, actor=operator, grounds="Split payments below the CTR line")
    log = report_generate(report_type="STR", alert=alert, file_format="xml", actor=operator)
    header, records = read_xml(log)
    assert header["Grounds"] == "Split payments below the CTR line" and header["CaseId"] == str(alert.pk)
    assert header["DueOn"] == alert.str_due_on.isoformat()
    assert [(r["TransactionId"], r["Amount"], r["Status"], r["PayerName"]) for r in records] == [
        (t1["txn_id"], "950000.00", "SUCCESS", "Ravi K"), (t2["txn_id"], "990000.00", "SUCCESS", "")]
    assert log.due_on == alert.str_due_on and log.generated_by == operator
    assert_logged(log, 2)


def test_monthly_summary_and_submission(core_rows, operator):
    now = timezone.now()
    month = timezone.localdate().replace(day=1)
    common = dict(entity_type="TXN", window_key="txn", window_start=now, window_end=now, threshold="t")
    fp = Alert.objects.create(rule_code="HIGH_VALUE", severity="MEDIUM", entity_key="A", **common)
    Alert.objects.create(rule_code="HIGH_VALUE", severity="MEDIUM", entity_key="B", **common)
    cash = Alert.objects.create(rule_code="CASH_MONTHLY", severity="HIGH", entity_key="C", **common)
    alert_start_review(alert_id=fp.pk, actor=operator)
    alert_resolve(alert_id=fp.pk, actor=operator, resolution="FALSE_POSITIVE", reason="ok")
    alert_start_review(alert_id=cash.pk, actor=operator)
    alert_escalate(alert_id=cash.pk, actor=operator, reason="r")
    cash = alert_mark_for_str(alert_id=cash.pk, actor=operator, grounds="g")
    logs = monthly_reports_generate(month=month, actor=operator)
    assert [(l.report_type, l.file_format) for l in logs] == [
        (t, f) for t in ("CTR", "CBWTR", "TAT", "SUMMARY") for f in ("csv", "xml")]
    summary = next(l for l in logs if l.report_type == "SUMMARY" and l.file_format == "csv")
    rows = [(r["section"], r["rule_code"], r["severity"], r["raised"], r["resolved_false_positive"], r["str_filed"],
             r["open_now"], r["alert_id"], r["str_due_on"]) for r in read_csv(summary)]
    assert rows == [
        ("alerts", "CASH_MONTHLY", "HIGH", "1", "0", "0", "1", "", ""),
        ("alerts", "HIGH_VALUE", "MEDIUM", "2", "1", "0", "1", "", ""),
        ("str_clock", "CASH_MONTHLY", "HIGH", "", "", "", "", str(cash.pk), cash.str_due_on.isoformat()),
    ]  # fmt: skip
    ctr = logs[0]
    with pytest.raises(WorkflowError, match="reference"):
        report_mark_submitted(report_id=ctr.pk, actor=operator, reference=" ")
    ctr = report_mark_submitted(report_id=ctr.pk, actor=operator, reference="FIU-CTR-2026-11")
    assert (ctr.status, ctr.submitted_by) == ("SUBMITTED", operator)
    with pytest.raises(WorkflowError, match="already submitted"):
        report_mark_submitted(report_id=ctr.pk, actor=operator, reference="again")


def test_report_command_writes_and_logs_a_file_and_refuses_bad_input(core_rows):
    from io import StringIO

    from django.core.management import CommandError, call_command

    hit = txn(core_rows, 407, "600000.00", ist(7), payment_mode="International Card")
    out = StringIO()
    call_command("compliance_report", "CBWTR", "--month", "2026-10", "--format", "xml", stdout=out)
    log = ReportLog.objects.get(report_type="CBWTR")
    assert log.file_path in out.getvalue() and read_xml(log)[1][0]["TransactionId"] == hit["txn_id"]
    with pytest.raises(CommandError, match="must look like 2026-10"):
        call_command("compliance_report", "CTR", "--month", "October")
    with pytest.raises(CommandError, match="does not exist"):
        call_command("compliance_report", "STR", "--alert", "999999")
    with pytest.raises(CommandError, match="needs a month"):
        call_command("compliance_report", "CTR")
    assert ReportLog.objects.count() == 1


def _reference_xml(spec, rows) -> bytes:
    # The writer's records, element by element through XMLGenerator (how they were written
    # before the direct-text fast path): the bytes must not change.
    import io
    from xml.sax.saxutils import XMLGenerator

    from integrations.regulatory_reports.writers import text_value

    out = io.StringIO()
    gen = XMLGenerator(out, encoding="utf-8", short_empty_elements=True)
    gen.startDocument()
    gen.startElement(spec.root, {})
    gen.startElement("Header", {})
    for key, value in spec.meta.items():
        gen.startElement(key, {})
        gen.characters(text_value(value))
        gen.endElement(key)
    gen.endElement("Header")
    gen.startElement("Records", {})
    for row in rows:
        gen.startElement(spec.record, {})
        for field, value in zip(spec.fields, row):
            gen.startElement(field.xml, {})
            gen.characters(text_value(value))
            gen.endElement(field.xml)
        gen.endElement(spec.record)
    gen.endElement("Records")
    gen.startElement("RecordCount", {})
    gen.characters(str(len(rows)))
    gen.endElement("RecordCount")
    gen.endElement(spec.root)
    gen.endDocument()
    return out.getvalue().encode("utf-8")


@pytest.mark.parametrize("rows", [
    [],
    [("a<b & c>d", None, Decimal("1000000.50"), 7, True, dt.datetime(2026, 10, 2, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))), "")],
    [("x", "Ünïcode ✓", Decimal("0.00"), 0, False, dt.date(2026, 10, 1), "y")] * 3,
])
def test_xml_records_are_the_bytes_xmlgenerator_writes(tmp_path, rows):
    from integrations.regulatory_reports.writers import Field, FileSpec, write_report

    fields = [Field(f"f{i}", f"F{i}") for i in range(7)]
    spec = FileSpec("Root", "Rec", fields, {"PeriodStart": dt.date(2026, 10, 1), "Empty": None, "Amp": "a&b"})
    written = write_report(tmp_path / "r.xml", "xml", spec, iter(rows))
    assert written.path.read_bytes() == _reference_xml(spec, rows) and written.row_count == len(rows)
