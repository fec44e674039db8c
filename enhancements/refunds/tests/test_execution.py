"""Execution through the core gateway simulator: success, decline, timeout -> UNKNOWN -> enquiry, 5xx."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from core_legacy.selectors import transaction_get
from enhancements.events.models import OutboxEvent
from enhancements.refunds import services
from enhancements.refunds.execution import refund_execute, refund_resolve, refunds_due_for_enquiry
from enhancements.refunds.models import RefundSource, RefundState
from integrations.core_gateway.client import CoreGatewayClient, GatewayOutcomeUnknown

pytestmark = pytest.mark.django_db(databases=["default", "core"])


def approved(people, txn, amount):
    refund = services.refund_create(amount=amount, source=RefundSource.OPERATOR, txn_id=txn["txn_id"], actor=people["maker"])
    return services.refund_approve(refund_id=refund.pk, actor=people["l1"])


def behave(simulator, **body):
    requests.post(simulator.url + "/_sim/behaviour", json=body, timeout=5).raise_for_status()


def refund_posts(simulator):
    return [c for c in simulator.state.calls if c["method"] == "POST" and c["path"] == "/v1/refunds"]


def test_completed_refund_lands_in_the_core(people, paid_txn, simulator):
    txn = paid_txn(1000.0)
    refund = refund_execute(refund_id=approved(people, txn, "250.50").pk)
    assert refund.state == RefundState.COMPLETED and refund.gateway_refund_id.startswith("CGR")
    core = transaction_get(txn_id=txn["txn_id"])
    assert core.refunded_amount == Decimal("250.50") and core.status.value == "REFUNDED" and core.status_code == "0700"
    assert OutboxEvent.objects.filter(type="refund.processed", txn_id=txn["txn_id"]).count() == 1
    # The balance now comes from the core figure, without counting our refund twice.
    services.refund_create(amount="749.50", source=RefundSource.OPERATOR, txn_id=txn["txn_id"], actor=people["maker"])
    # Executing again is a no-op: one gateway call only.
    refund_execute(refund_id=refund.pk)
    assert len(refund_posts(simulator)) == 1


def test_decline_fails_the_refund(people, paid_txn, simulator):
    behave(simulator, mode="decline")
    refund = refund_execute(refund_id=approved(people, paid_txn(), "10").pk)
    assert refund.state == RefundState.FAILED and "declined" in refund.gateway_message
    assert OutboxEvent.objects.filter(type="refund.failed").count() == 1
    assert transaction_get(txn_id=refund.txn_id).refunded_amount is None


def test_timeout_leaves_unknown_and_the_enquiry_resolves_without_resending(people, paid_txn, simulator, settings):
    settings.REFUND_ENQUIRY_DELAY_S = 0
    behave(simulator, mode="timeout", delay_s=1.0, times=2)  # the core applies it, but answers too late
    refund = refund_execute(refund_id=approved(people, paid_txn(), "40").pk)
    assert refund.state == RefundState.UNKNOWN
    assert [c["outcome"] for c in refund_posts(simulator)] == ["applied", "replayed"]  # the retry reused the key
    assert refund.pk in refunds_due_for_enquiry()
    refund = refund_resolve(refund_id=refund.pk)
    assert refund.state == RefundState.COMPLETED
    assert len(refund_posts(simulator)) == 2  # the enquiry did not send the refund again
    assert transaction_get(txn_id=refund.txn_id).refunded_amount == Decimal("40.00")
    actions = list(refund.workflow.values_list("action", "to_state"))
    assert ("outcome_unknown", "UNKNOWN") in actions and actions[-1] == ("complete", "COMPLETED")


def test_5xx_then_enquiry_not_found_resends_with_the_same_key(people, paid_txn, simulator, settings):
    settings.REFUND_ENQUIRY_DELAY_S = 0
    behave(simulator, mode="fail", times=2)
    refund = refund_execute(refund_id=approved(people, paid_txn(), "15").pk)
    assert refund.state == RefundState.UNKNOWN  # a 5xx after retries is not proof that nothing happened
    refund = refund_resolve(refund_id=refund.pk)
    assert refund.state == RefundState.COMPLETED
    posts = refund_posts(simulator)
    assert [c["outcome"] for c in posts] == ["500", "500", "applied"]
    assert len({c["idempotency_key"] for c in posts}) == 1
    assert "enquiry_not_received" in refund.workflow.values_list("action", flat=True)


def test_pending_at_core_then_enquiry(people, paid_txn, simulator):
    behave(simulator, mode="pending")
    refund = refund_execute(refund_id=approved(people, paid_txn(), "20").pk)
    assert refund.state == RefundState.PROCESSING
    core = transaction_get(txn_id=refund.txn_id)
    assert core.status.value == "REFUND_INITIATED" and core.refund_amount == Decimal("20.00")
    assert refund_resolve(refund_id=refund.pk).state == RefundState.PROCESSING  # still pending at the bank
    requests.post(f"{simulator.url}/_sim/refunds/{refund.idempotency_key}/complete", json={"status": "COMPLETED"}, timeout=5)
    assert refund_resolve(refund_id=refund.pk).state == RefundState.COMPLETED
    assert transaction_get(txn_id=refund.txn_id).refunded_amount == Decimal("20.00")


def test_simulator_is_idempotent_and_refuses_a_reused_key(paid_txn, simulator):
    txn = paid_txn(100.0)
    client = CoreGatewayClient()
    first = client.refund_create(idempotency_key="k-1", txn_id=txn["txn_id"], amount=Decimal("60"), reason="r")
    again = client.refund_create(idempotency_key="k-1", txn_id=txn["txn_id"], amount=Decimal("60"), reason="r")
    assert first == again and transaction_get(txn_id=txn["txn_id"]).refunded_amount == Decimal("60.00")
    with pytest.raises(Exception, match="409"):
        client.refund_create(idempotency_key="k-1", txn_id=txn["txn_id"], amount=Decimal("10"), reason="r")
    # The core itself refuses more than the balance.
    over = client.refund_create(idempotency_key="k-2", txn_id=txn["txn_id"], amount=Decimal("41"), reason="r")
    assert over.status == "FAILED" and "exceeds" in over.message
    assert client.refund_status(idempotency_key="never-sent") is None


def test_client_gives_up_as_unknown_when_the_gateway_is_down(settings):
    client = CoreGatewayClient(base_url="http://127.0.0.1:9", retries=1, backoff_s=0.01, timeout_s=0.2)
    with pytest.raises(GatewayOutcomeUnknown, match="2 attempts"):
        client.refund_status(idempotency_key="x")
