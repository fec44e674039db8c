"""Shared pieces of every state change: approval tiers, the trail, transitions, events, TAT."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from core_legacy.fields import to_core_naive
from enhancements.events import outbox
from enhancements.regulatory import tat

from .errors import ApprovalNotAllowed, IllegalTransition
from .models import LEVEL_PERMISSIONS, RefundApprovalWorkflow, RefundBatch, RefundRequest

# (upper bound inclusive in rupees or None for "above", levels). Override with settings.REFUND_APPROVAL_TIERS.
DEFAULT_APPROVAL_TIERS = (
    ("10000.00", ("L1",)),
    ("100000.00", ("L1", "L2")),
    (None, ("L1", "L2", "FINANCE")),
)


def approval_levels_for(amount: Decimal) -> list[str]:
    for bound, levels in getattr(settings, "REFUND_APPROVAL_TIERS", DEFAULT_APPROVAL_TIERS):
        if bound is None or amount <= Decimal(str(bound)):
            return list(levels)
    raise ValueError("REFUND_APPROVAL_TIERS must end with an unbounded tier (None)")


def india_today(now: dt.datetime | None = None) -> dt.date:
    return to_core_naive(now or timezone.now()).date()


def tat_fields(payment_mode: str | None, requested_on: dt.date) -> dict:
    channel = tat.channel_for_payment_mode(payment_mode)
    return {"tat_channel": channel, "tat_deadline": tat.tat_deadline(channel, requested_on), "requested_on": requested_on}


def actor_label(actor) -> str:
    return getattr(actor, "username", None) or str(actor)


def record(subject: RefundRequest | RefundBatch, *, action: str, from_state: str, actor=None, label: str | None = None,
           comment: str = "", level: str = "") -> RefundApprovalWorkflow:  # fmt: skip
    is_refund = isinstance(subject, RefundRequest)
    return RefundApprovalWorkflow.objects.create(
        refund=subject if is_refund else None, batch=None if is_refund else subject, action=action,
        from_state=from_state, to_state=subject.state, level=level, actor=actor if getattr(actor, "pk", None) else None,
        actor_label=label or (actor_label(actor) if actor else "system"), comment=comment,
    )  # fmt: skip


def apply_transition(subject: RefundRequest | RefundBatch, name: str) -> str:
    """Run an FSM transition; an illegal one becomes IllegalTransition naming the state. Returns the old state."""
    before = subject.state
    try:
        getattr(subject, name)()
    except TransitionNotAllowed as exc:
        kind = "refund" if isinstance(subject, RefundRequest) else "batch"
        raise IllegalTransition(
            f"cannot {name.replace('_', ' ')} {kind} #{subject.pk}: it is {before}"
        ) from exc
    return before


def approver_levels(user) -> list[str]:
    """The approval levels this user's permissions (via the approver groups) allow."""
    return [level for level, perm in LEVEL_PERMISSIONS.items() if user.has_perm(perm)]


def check_approver(subject: RefundRequest | RefundBatch, *, actor, raised_by_id: int | None) -> str:
    """Maker-checker and level permission; returns the level being approved."""
    level = subject.next_level
    if level is None:
        raise IllegalTransition(f"#{subject.pk} has no approval level left")
    if raised_by_id is not None and actor.pk == raised_by_id:
        raise ApprovalNotAllowed("maker-checker: whoever raised a request cannot approve it")
    if not actor.has_perm(LEVEL_PERMISSIONS[level]):
        raise ApprovalNotAllowed(f"{actor_label(actor)} lacks permission to approve at level {level}")
    # Approvals since the last return for correction count (a return voids the earlier ones).
    for action, actor_id, approved_level in subject.workflow.order_by("-id").values_list("action", "actor_id", "level"):
        if action in ("return", "amend"):
            break
        if action == "approve" and actor_id == actor.pk:
            raise ApprovalNotAllowed(f"maker-checker: {actor_label(actor)} already approved level {approved_level}; "
                                     "one person cannot approve two levels")  # fmt: skip
    return level


def refund_payload(refund: RefundRequest, **extra) -> dict:
    return {
        "refund_id": str(refund.reference), "txn_id": refund.txn_id, "client_id": refund.client_id,
        "client_code": refund.client_code, "client_txn_id": refund.client_txn_id,
        "amount": str(refund.amount) if refund.amount is not None else None,
        "state": refund.state, "source": refund.source, "reason": refund.reason,
        "batch_id": refund.batch_id, "tat_deadline": refund.tat_deadline.isoformat(), **extra,
    }  # fmt: skip


def event_for(refund: RefundRequest, event_type: str, **extra) -> outbox.NewEvent:
    return outbox.NewEvent(
        event_key=f"{event_type}:{refund.reference}", type=event_type, payload=refund_payload(refund, **extra),
        occurred_at=timezone.now(), client_id=refund.client_id, client_code=refund.client_code or None, txn_id=refund.txn_id,
    )  # fmt: skip


def publish(refund: RefundRequest, event_type: str, **extra) -> None:
    """refund.created/approved/rejected/processed/failed, in the caller's transaction."""
    outbox.publish_many([event_for(refund, event_type, **extra)])
