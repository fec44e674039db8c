"""Reads: approver queues ("waiting for me"), the timeline, and the RBI TAT breach report."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.db.models.expressions import RawSQL

from enhancements.regulatory import tat

from .models import RefundApprovalWorkflow, RefundBatch, RefundRequest, RefundState
from .workflow import approver_levels, india_today


def _waiting(queryset: QuerySet, user, raised_by_field: str, subject_field: str) -> QuerySet:
    levels = approver_levels(user)
    # Approvals given before the last return for correction no longer count (as in workflow.check_approver).
    last_reset = (RefundApprovalWorkflow.objects.filter(**{subject_field: OuterRef(OuterRef("pk"))}, action__in=("return", "amend"))
                  .order_by("-id").values("id")[:1])  # fmt: skip
    approved_by_me = RefundApprovalWorkflow.objects.filter(**{subject_field: OuterRef("pk")}, action="approve", actor=user,
                                                           id__gt=Coalesce(Subquery(last_reset), 0))  # fmt: skip
    return (
        queryset.filter(state="PENDING_APPROVAL")
        # approval_levels is a JSON array; the next level is element [approvals_done].
        .annotate(next_level_sql=RawSQL("approval_levels ->> approvals_done", []))
        .filter(next_level_sql__in=levels)
        .exclude(**{raised_by_field: user.pk})
        .exclude(Exists(approved_by_me))
    )


def refunds_waiting_for(user) -> QuerySet:
    """Single refunds (not batch members) whose next level this user may approve, maker-checker applied."""
    return _waiting(RefundRequest.objects.filter(batch__isnull=True), user, "raised_by_id", "refund").order_by("created_at")


def batches_waiting_for(user) -> QuerySet:
    return _waiting(RefundBatch.objects.all(), user, "uploaded_by_id", "batch").order_by("created_at")


def refund_timeline(refund: RefundRequest) -> QuerySet:
    return refund.workflow.select_related("actor").order_by("id")


@dataclasses.dataclass(frozen=True)
class TatBreach:
    refund_id: int
    reference: str
    txn_id: str
    client_code: str
    amount: Decimal
    state: str
    channel: str
    requested_on: dt.date
    deadline: dt.date
    resolved_on: dt.date | None
    days_late: int
    compensation_due: Decimal


def tat_breaches(*, as_of: dt.date | None = None, client_code: str | None = None) -> list[TatBreach]:
    """Refunds concluded after their TAT deadline, or still open past it (counted to `as_of`).

    Rejected/cancelled requests owe nothing (no money was due back to the customer).
    """
    as_of = as_of or india_today()
    qs = RefundRequest.objects.exclude(state__in=[RefundState.REJECTED, RefundState.CANCELLED]).filter(tat_deadline__lt=as_of)
    if client_code:
        qs = qs.filter(client_code=client_code)
    breaches = []
    for r in qs.order_by("tat_deadline", "id").iterator(chunk_size=2000):
        resolved_on = india_today(r.resolved_at) if r.resolved_at and r.state in (RefundState.COMPLETED, RefundState.FAILED) else None
        # A FAILED refund did not return the money: it stays in breach until done, so count to as_of.
        end = resolved_on if r.state == RefundState.COMPLETED and resolved_on else as_of
        late = tat.days_late(r.tat_channel, r.requested_on, end)
        if late <= 0:
            continue
        breaches.append(TatBreach(r.pk, str(r.reference), r.txn_id, r.client_code, r.amount, r.state, r.tat_channel,
                                  r.requested_on, r.tat_deadline, resolved_on, late,
                                  tat.compensation_due(r.tat_channel, r.requested_on, end)))  # fmt: skip
    return breaches
