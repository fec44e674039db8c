"""Core refund_request_from_client rows arrive as refund_request.received events and become requests."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from enhancements.events import outbox
from enhancements.events.models import OutboxDelivery
from enhancements.refunds import services
from enhancements.refunds.execution import refund_execute
from enhancements.refunds.intake import consume
from enhancements.refunds.models import RefundRequest, RefundState

pytestmark = pytest.mark.django_db(databases=["default", "core"])


def announce(row: dict) -> None:
    """What the change feed publishes for a new core row."""
    outbox.publish(event_key=f"refund_request.received:{row['refund_id']}", type="refund_request.received",
                   payload={"refund_id": row["refund_id"], "txn_id": row.get("sp_txn_id"), "amount": row["amount"]},
                   occurred_at=timezone.now())  # fmt: skip


def test_core_requests_become_refunds_or_visible_refusals(paid_txn, core_rows, people, simulator):
    txn = paid_txn(800.0)
    good = core_rows.refund_request(amount="300.00", client_code=txn["client_code"], client_txn_id=txn["client_txn_id"],
                                    message="customer called")  # fmt: skip
    too_much = core_rows.refund_request(amount="Rs. 900", sp_txn_id=txn["txn_id"], client_code=txn["client_code"])
    acted_on = core_rows.refund_request(amount="10", sp_txn_id=txn["txn_id"], refund_init_date=dt.datetime(2026, 11, 20))
    for row in (good, too_much, acted_on):
        announce(row)
    announce(good)  # the feed is at-least-once: a repeat adds nothing (same event key)
    assert consume() == {"created": 1, "refused": 1, "skipped": 1}
    assert consume() == {}
    refund = RefundRequest.objects.get(core_refund_id=good["refund_id"])
    assert (refund.state, refund.source, refund.txn_id, str(refund.amount)) == ("PENDING_APPROVAL", "CORE", txn["txn_id"], "300.00")
    refused = RefundRequest.objects.get(core_refund_id=too_much["refund_id"])
    assert refused.state == RefundState.REJECTED and refused.rejection_rule == "amount_exceeds_balance"
    assert OutboxDelivery.objects.filter(consumer="refunds", state="done").count() == 3

    # Approved and executed, the gateway completes the core's own request row.
    services.refund_approve(refund_id=refund.pk, actor=people["l1"])
    assert refund_execute(refund_id=refund.pk).state == RefundState.COMPLETED
    row = core_rows.execute("SELECT sp_txn_id, refund_complete_date IS NOT NULL, refunded_bank_ref_id FROM "
                            "refund_request_from_client WHERE refund_id = %s", [good["refund_id"]]).fetchone()  # fmt: skip
    assert row[0] == txn["txn_id"] and row[1] and row[2].startswith("CGR")


def test_an_unreadable_core_amount_is_refused_visibly(core_rows, db):
    row = core_rows.refund_request(amount="twelve", sp_txn_id="123")
    announce(row)
    assert consume() == {"refused": 1}
    refused = RefundRequest.objects.get(core_refund_id=row["refund_id"])
    assert (refused.state, refused.rejection_rule, refused.amount) == (RefundState.REJECTED, "core_data_unreadable", None)
    assert "amount" in refused.workflow.get().comment


def test_an_event_for_a_missing_row_is_parked_with_the_reason(db):
    announce({"refund_id": 424242, "amount": "1"})
    assert consume() == {"failed": 1}
    delivery = OutboxDelivery.objects.get(consumer="refunds")
    assert delivery.state == "failed" and "424242 does not exist" in delivery.last_error
