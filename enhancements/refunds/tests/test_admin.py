"""Operator flows through the admin: raise, queue, one-click decisions, batch preview, callbacks, TAT report."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from enhancements.refunds import services
from enhancements.refunds.models import InboundCallback, RefundBatch, RefundRequest, RefundSource, RefundState
from enhancements.refunds.selectors import tat_breaches
from enhancements.refunds.workflow import india_today

pytestmark = pytest.mark.django_db(databases=["default", "core"])
BASE = "/admin/refunds/"


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_raise_queue_and_one_click_decisions(people, paid_txn):
    txn = paid_txn(5000.0)
    maker = browser(people["maker"])
    page = maker.post(BASE + "refundrequest/add/", {"txn_id": txn["txn_id"], "amount": "9999", "reason": "x"})
    assert "amount_exceeds_balance" in page.content.decode()
    page = maker.post(BASE + "refundrequest/add/", {"txn_id": txn["txn_id"], "amount": "1200.50", "reason": "late delivery"})
    refund = RefundRequest.objects.get(txn_id=txn["txn_id"])
    assert page.status_code == 302 and refund.raised_by == people["maker"]

    l1 = browser(people["l1"])
    assert f"refundrequest/{refund.pk}/change/" in l1.get(BASE + "refundrequest/?queue=me").content.decode()
    assert f"refundrequest/{refund.pk}/change/" not in browser(people["l2"]).get(BASE + "refundrequest/?queue=me").content.decode()

    # A crafted POST by the raiser is refused by the service, not by hiding a button.
    answer = maker.post(BASE + f"refundrequest/{refund.pk}/decide/", {"action": "approve"}, follow=True)
    assert "maker-checker" in answer.content.decode()
    refund.refresh_from_db()
    assert refund.state == RefundState.PENDING_APPROVAL

    change = l1.get(BASE + f"refundrequest/{refund.pk}/change/").content.decode()
    assert "Timeline" in change and "late delivery" in change and 'value="approve"' in change
    l1.post(BASE + f"refundrequest/{refund.pk}/decide/", {"action": "approve", "comment": "fine"})
    refund.refresh_from_db()
    assert refund.state == RefundState.APPROVED
    assert refund.workflow.last().comment == "fine"
    assert f"refundrequest/{refund.pk}/change/" not in l1.get(BASE + "refundrequest/?queue=me").content.decode()


def test_batch_upload_preview_submit_approve(people, paid_txn):
    txn = paid_txn(100.0)
    maker = browser(people["maker"])
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("r.csv", f"txn_id,amount,reason\n{txn['txn_id']},60,a\n{txn['txn_id']},60,b\n".encode())
    answer = maker.post(BASE + "refundbatch/add/", {"file": upload})
    batch = RefundBatch.objects.get()
    assert answer.status_code == 302
    preview = maker.get(BASE + f"refundbatch/{batch.pk}/change/").content.decode()
    assert "amount_exceeds_balance" in preview and "1 rejected" in preview
    maker.post(BASE + f"refundbatch/{batch.pk}/decide/", {"action": "submit"})
    batch.refresh_from_db()
    assert batch.state == "PENDING_APPROVAL"
    l1 = browser(people["l1"])
    assert "r.csv" in l1.get(BASE + "refundbatch/?queue=me").content.decode()
    l1.post(BASE + f"refundbatch/{batch.pk}/decide/", {"action": "approve"})
    assert list(batch.refunds.values_list("state", flat=True)) == [RefundState.APPROVED]
    bad = maker.post(BASE + "refundbatch/add/", {"file": SimpleUploadedFile("r.csv", b"foo,bar\n1,2\n")})
    assert "unknown column" in bad.content.decode()


def test_callback_admin_reprocess(people, settings, admin_user):
    body = json.dumps({"event_id": "e1", "type": "settlement.status"})
    cb = InboundCallback.objects.create(headers={}, body=body)
    client = browser(admin_user)
    client.post(BASE + "inboundcallback/", {"action": "reprocess", "_selected_action": [cb.pk]})
    cb.refresh_from_db()
    assert cb.status == "SIGNATURE_REJECTED" and "missing" in cb.error
    assert "SIGNATURE_REJECTED" in client.get(BASE + "inboundcallback/?status__exact=SIGNATURE_REJECTED").content.decode()


def test_tat_breaches_and_compensation(people, paid_txn, admin_user):
    late = services.refund_create(amount="10", source=RefundSource.OPERATOR, txn_id=paid_txn(payment_mode="UPI")["txn_id"],
                                  actor=people["maker"])  # fmt: skip
    on_time = services.refund_create(amount="10", source=RefundSource.OPERATOR, txn_id=paid_txn()["txn_id"],
                                     actor=people["maker"])  # fmt: skip
    today = india_today()
    # Requested 12 days ago on UPI (T+5): 7 days late so far -> Rs 700.
    RefundRequest.objects.filter(pk=late.pk).update(requested_on=today - dt.timedelta(days=12),
                                                    tat_deadline=today - dt.timedelta(days=7))  # fmt: skip
    RefundRequest.objects.filter(pk=on_time.pk).update(state=RefundState.COMPLETED, resolved_at=timezone.now())
    breaches = tat_breaches()
    assert [(b.refund_id, b.channel, b.days_late, b.compensation_due) for b in breaches] == [
        (late.pk, "UPI_P2M", 7, Decimal("700.00"))
    ]
    client = browser(admin_user)
    assert "compensation due Rs 700.00" in client.get(BASE + "refundrequest/tat-report/").content.decode()
    csv_text = client.get(BASE + "refundrequest/tat-report/?format=csv").content.decode()
    assert csv_text.splitlines()[1].endswith(",7,700.00")
