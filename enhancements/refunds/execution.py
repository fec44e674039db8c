"""Sending approved refunds to the core gateway, and resolving the ones whose outcome is unknown.

    APPROVED --(claim, row lock)--> PROCESSING --gateway answer--> COMPLETED / FAILED
                                       |  timeout / 5xx after retries
                                       v
                                    UNKNOWN --status enquiry--> COMPLETED / FAILED
                                       |  gateway never received the key
                                       v
                                    APPROVED (sent again, same idempotency key)

Only the caller that moves a refund APPROVED -> PROCESSING (under SELECT ... FOR UPDATE)
talks to the gateway, so N concurrent executions make one call. The HTTP call happens
outside any database transaction; a crash mid-call leaves PROCESSING, which the
scheduled enquiry treats like UNKNOWN once it is overdue.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from integrations.core_gateway.client import (
    STATUS_COMPLETED,
    STATUS_FAILED,
    CoreGatewayClient,
    GatewayOutcomeUnknown,
    GatewayRefund,
    GatewayRejected,
)

from . import workflow
from .models import RefundRequest, RefundState

log = logging.getLogger(__name__)


def enquiry_delay() -> dt.timedelta:
    return dt.timedelta(seconds=float(getattr(settings, "REFUND_ENQUIRY_DELAY_S", 60)))


def _claim(refund_id: int) -> RefundRequest | None:
    with transaction.atomic():
        refund = RefundRequest.objects.select_for_update().get(pk=refund_id)
        if refund.state != RefundState.APPROVED:
            return None  # someone else sent it, or it is not approved: nothing to do
        before = workflow.apply_transition(refund, "start_processing")
        refund.gateway_attempts += 1
        # If this process dies during the call, the enquiry picks the refund up after the delay.
        refund.next_enquiry_at = timezone.now() + enquiry_delay()
        refund.save(update_fields=["state", "gateway_attempts", "next_enquiry_at", "updated_at"])
        workflow.record(refund, action="send_to_gateway", from_state=before, label="system",
                        comment=f"attempt {refund.gateway_attempts}, idempotency key {refund.idempotency_key}")  # fmt: skip
        return refund


def refund_execute(*, refund_id: int, client: CoreGatewayClient | None = None) -> RefundRequest:
    """Send an APPROVED refund to the core gateway (a no-op in any other state)."""
    refund = _claim(refund_id)
    if refund is None:
        return RefundRequest.objects.get(pk=refund_id)
    client = client or CoreGatewayClient()
    try:
        result = client.refund_create(idempotency_key=str(refund.idempotency_key), txn_id=refund.txn_id, amount=refund.amount,
                                      reason=refund.reason or "refund", core_refund_id=refund.core_refund_id)  # fmt: skip
    except GatewayOutcomeUnknown as exc:
        return _mark_unknown(refund_id, str(exc))
    except GatewayRejected as exc:
        return refund_apply_gateway_status(refund_id=refund_id, status=STATUS_FAILED, message=str(exc), via="gateway refusal")
    return refund_apply_gateway_result(refund_id=refund_id, result=result, via="gateway response")


@transaction.atomic
def _mark_unknown(refund_id: int, error: str) -> RefundRequest:
    refund = RefundRequest.objects.select_for_update().get(pk=refund_id)
    if refund.state != RefundState.PROCESSING:
        return refund  # a callback resolved it meanwhile
    before = workflow.apply_transition(refund, "mark_unknown")
    refund.gateway_message = error[:500]
    refund.next_enquiry_at = timezone.now() + enquiry_delay()
    refund.save(update_fields=["state", "gateway_message", "next_enquiry_at", "updated_at"])
    workflow.record(refund, action="outcome_unknown", from_state=before, label="system",
                    comment=f"{error}; a status enquiry will resolve it, nothing is re-sent blind")  # fmt: skip
    return refund


def refund_apply_gateway_result(*, refund_id: int, result: GatewayRefund, via: str) -> RefundRequest:
    return refund_apply_gateway_status(refund_id=refund_id, status=result.status, message=result.message,
                                       gateway_refund_id=result.gateway_refund_id, via=via)  # fmt: skip


@transaction.atomic
def refund_apply_gateway_status(*, refund_id: int, status: str, message: str = "", gateway_refund_id: str = "",
                                via: str) -> RefundRequest:  # fmt: skip
    """Apply what the gateway says (answer, enquiry or callback). Idempotent: a repeat changes nothing."""
    refund = RefundRequest.objects.select_for_update().get(pk=refund_id)
    if gateway_refund_id:
        refund.gateway_refund_id = gateway_refund_id
    if refund.state not in (RefundState.PROCESSING, RefundState.UNKNOWN):
        if (refund.state, status) not in ((RefundState.COMPLETED, STATUS_COMPLETED), (RefundState.FAILED, STATUS_FAILED)):
            log.warning("refund %s is %s but %s says %s", refund.pk, refund.state, via, status)
        return refund
    if status == STATUS_COMPLETED:
        name, event = "complete", "refund.processed"
    elif status == STATUS_FAILED:
        name, event = "fail", "refund.failed"
    else:  # PENDING at the core: wait for the callback, or enquire later
        refund.next_enquiry_at = timezone.now() + enquiry_delay()
        refund.gateway_message = message[:500]
        if refund.state == RefundState.UNKNOWN:
            # The gateway has it: back to PROCESSING (awaiting the bank), recorded.
            before = workflow.apply_transition(refund, "gateway_accepted")
            workflow.record(refund, action="gateway_pending", from_state=before, label="gateway", comment=f"{via}: {message}")
        refund.save(update_fields=["state", "gateway_refund_id", "gateway_message", "next_enquiry_at", "updated_at"])
        return refund
    before = workflow.apply_transition(refund, name)
    refund.gateway_message = message[:500]
    refund.resolved_at = timezone.now()
    refund.next_enquiry_at = None
    refund.save(update_fields=["state", "gateway_refund_id", "gateway_message", "resolved_at", "next_enquiry_at", "updated_at"])
    workflow.record(refund, action=name, from_state=before, label="gateway", comment=f"{via}: {message}".strip(": "))
    workflow.publish(refund, event, gateway_refund_id=refund.gateway_refund_id, message=message)
    return refund


def refund_resolve(*, refund_id: int, client: CoreGatewayClient | None = None) -> RefundRequest:
    """Status enquiry for an UNKNOWN (or overdue PROCESSING) refund."""
    refund = RefundRequest.objects.get(pk=refund_id)
    if refund.state not in (RefundState.UNKNOWN, RefundState.PROCESSING):
        return refund
    client = client or CoreGatewayClient()
    try:
        result = client.refund_status(idempotency_key=str(refund.idempotency_key))
    except (GatewayOutcomeUnknown, GatewayRejected) as exc:
        RefundRequest.objects.filter(pk=refund_id, state=refund.state).update(
            next_enquiry_at=timezone.now() + enquiry_delay(), gateway_message=f"enquiry failed: {exc}"[:500]
        )
        return RefundRequest.objects.get(pk=refund_id)
    if result is not None:
        return refund_apply_gateway_result(refund_id=refund_id, result=result, via="status enquiry")
    with transaction.atomic():
        refund = RefundRequest.objects.select_for_update().get(pk=refund_id)
        if refund.state not in (RefundState.UNKNOWN, RefundState.PROCESSING):
            return refund
        before = workflow.apply_transition(refund, "requeue_not_received")
        refund.next_enquiry_at = None
        refund.save(update_fields=["state", "next_enquiry_at", "updated_at"])
        workflow.record(refund, action="enquiry_not_received", from_state=before, label="system",
                        comment="the gateway never received this refund: sending it again with the same idempotency key")  # fmt: skip
    return refund_execute(refund_id=refund_id, client=client)


def refunds_due_for_enquiry(*, now: dt.datetime | None = None, limit: int = 500) -> list[int]:
    now = now or timezone.now()
    return list(
        RefundRequest.objects.filter(state__in=[RefundState.UNKNOWN, RefundState.PROCESSING], next_enquiry_at__lte=now)
        .order_by("next_enquiry_at").values_list("pk", flat=True)[:limit]
    )
