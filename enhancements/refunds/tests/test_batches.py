"""Bulk refunds: row-level report for bad rows, shared balance within a file, approval as a unit."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook

from enhancements.events.models import OutboxEvent
from enhancements.refunds import batches
from enhancements.refunds.errors import ApprovalNotAllowed, BatchFileError, IllegalTransition
from enhancements.refunds.execution import refund_execute
from enhancements.refunds.models import RefundBatch, RefundState

pytestmark = pytest.mark.django_db(databases=["default", "core"])


def csv_bytes(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def test_row_level_report_then_submit_and_approve(people, paid_txn, simulator):
    a, b = paid_txn(1000.0), paid_txn(200.0)
    failed = paid_txn(50.0, status="FAILED", sabpaisa_resp_code="0300")
    data = csv_bytes(
        "txn_id,client_code,client_txn_id,amount,reason",
        f"{a['txn_id']},,,600.00,damaged",
        f"{a['txn_id']},,,500.00,second row for the same txn exceeds what is left",
        f",{b['client_code']},{b['client_txn_id']},200,by client reference",
        f"{failed['txn_id']},,,10,",
        "nope,,,10,",
        f"{a['txn_id']},,,abc,",
        ",,,10,",
        "",
        f"{a['txn_id']},,,400.00,fits exactly",
    )
    batch = batches.batch_upload(file_name="refunds.csv", data=data, actor=people["maker"])
    report = {i.row_number: (i.verdict, i.rule) for i in batch.items.all()}
    assert report == {
        2: ("ACCEPTED", ""), 3: ("REJECTED", "amount_exceeds_balance"), 4: ("ACCEPTED", ""),
        5: ("REJECTED", "txn_not_successful"), 6: ("REJECTED", "txn_not_found"), 7: ("REJECTED", "bad_input"),
        8: ("REJECTED", "bad_input"), 10: ("ACCEPTED", ""),
    }  # fmt: skip
    assert (batch.total_rows, batch.accepted_rows, batch.rejected_rows, str(batch.accepted_amount)) == (8, 3, 5, "1200.00")
    assert batch.state == RefundBatch.State.DRAFT and not batch.refunds.exists()  # a preview reserves nothing

    with pytest.raises(ApprovalNotAllowed):
        batches.batch_submit(batch_id=batch.pk, actor=people["l1"])
    batch = batches.batch_submit(batch_id=batch.pk, actor=people["maker"])
    assert batch.state == RefundBatch.State.PENDING_APPROVAL and batch.approval_levels == ["L1"]
    assert batch.refunds.filter(state=RefundState.PENDING_APPROVAL).count() == 3
    assert sorted(batch.items.filter(refund__isnull=False).values_list("row_number", flat=True)) == [2, 4, 10]
    assert OutboxEvent.objects.filter(type="refund.created").count() == 3

    refund = batch.refunds.first()
    from enhancements.refunds import services

    with pytest.raises(IllegalTransition, match="approve the batch"):
        services.refund_approve(refund_id=refund.pk, actor=people["l1"])
    with pytest.raises(ApprovalNotAllowed, match="maker-checker"):
        batches.batch_approve(batch_id=batch.pk, actor=people["maker"])
    batches.batch_approve(batch_id=batch.pk, actor=people["l1"], comment="checked")
    assert set(batch.refunds.values_list("state", flat=True)) == {RefundState.APPROVED}
    for r in batch.refunds.all():
        assert refund_execute(refund_id=r.pk).state == RefundState.COMPLETED
    assert OutboxEvent.objects.filter(type="refund.processed").count() == 3


def test_xlsx_upload_and_all_or_nothing(people, paid_txn):
    a = paid_txn(100.0)
    wb = Workbook()
    ws = wb.active
    ws.append(["TXN_ID", "Amount", "Reason"])
    ws.append([a["txn_id"], 40, "xlsx"])
    ws.append([a["txn_id"], 70, "too much"])
    out = io.BytesIO()
    wb.save(out)
    batch = batches.batch_upload(file_name="r.xlsx", data=out.getvalue(), actor=people["maker"])
    assert list(batch.items.values_list("verdict", flat=True)) == ["ACCEPTED", "REJECTED"]
    with pytest.raises(Exception, match="all-or-nothing"):
        batches.batch_submit(batch_id=batch.pk, actor=people["maker"], all_or_nothing=True)
    batches.batch_reject(batch_id=batch.pk, actor=people["maker"], reason="will fix the file", cancel=True)
    assert RefundBatch.objects.get(pk=batch.pk).state == RefundBatch.State.CANCELLED


def test_two_level_batch_and_rejection(people, paid_txn):
    a = paid_txn(60000.0)
    batch = batches.batch_upload(file_name="big.csv", data=csv_bytes("txn_id,amount", f"{a['txn_id']},20000"),
                                 actor=people["maker"])  # fmt: skip
    batches.batch_submit(batch_id=batch.pk, actor=people["maker"])
    batches.batch_approve(batch_id=batch.pk, actor=people["boss"])
    with pytest.raises(ApprovalNotAllowed, match="two levels"):
        batches.batch_approve(batch_id=batch.pk, actor=people["boss"])
    batches.batch_reject(batch_id=batch.pk, actor=people["l2"], reason="not authorised by the merchant")
    assert set(RefundBatch.objects.get(pk=batch.pk).refunds.values_list("state", flat=True)) == {RefundState.REJECTED}


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("r.txt", b"txn_id,amount\n1,1\n", "upload a .csv or .xlsx"),
        ("r.csv", b"", "empty"),
        ("r.csv", b"txn,amount\n1,1\n", "unknown column"),
        ("r.csv", b"reason\nx\n", "needs amount"),
        ("r.csv", b"txn_id,amount\n", "no rows"),
        ("r.csv", b"\xff\xfe\x00bad", "not UTF-8"),
        ("r.xlsx", b"not a workbook", "not a readable XLSX"),
    ],
)
def test_unreadable_files_are_refused_whole(people, name, data, message):
    with pytest.raises(BatchFileError, match=message):
        batches.batch_upload(file_name=name, data=data, actor=people["maker"])
    assert not RefundBatch.objects.exists()
