"""Thin Celery wrappers. Every task is safe to run twice (the services are idempotent)."""

from __future__ import annotations

import logging

from celery import shared_task

log = logging.getLogger(__name__)


def enqueue(task, *args) -> None:
    """Kick a task after commit; a broker outage only delays the work (beat sweeps catch up)."""
    try:
        task.delay(*args)
    except Exception:
        log.warning("could not enqueue %s%s; the beat sweep will pick it up", task.name, args, exc_info=True)


@shared_task(name="refunds.execute")
def refund_execute_task(refund_id: int) -> str:
    from .execution import refund_execute

    return refund_execute(refund_id=refund_id).state


@shared_task(name="refunds.execute_batch")
def batch_execute_task(batch_id: int) -> int:
    from .execution import refund_execute
    from .models import RefundRequest, RefundState

    ids = list(RefundRequest.objects.filter(batch_id=batch_id, state=RefundState.APPROVED).values_list("pk", flat=True))
    for refund_id in ids:
        refund_execute(refund_id=refund_id)
    return len(ids)


@shared_task(name="refunds.execute_approved_sweep")
def execute_approved_sweep() -> int:
    """Beat: approved refunds whose on-commit kick was lost."""
    import datetime as dt

    from django.utils import timezone

    from .execution import refund_execute
    from .models import RefundRequest, RefundState

    stale = timezone.now() - dt.timedelta(minutes=2)
    ids = list(RefundRequest.objects.filter(state=RefundState.APPROVED, updated_at__lt=stale).values_list("pk", flat=True)[:500])
    for refund_id in ids:
        refund_execute(refund_id=refund_id)
    return len(ids)


@shared_task(name="refunds.resolve_unknown")
def resolve_unknown_task() -> int:
    """Beat: status enquiry for refunds in UNKNOWN (or PROCESSING too long)."""
    from .execution import refund_resolve, refunds_due_for_enquiry

    ids = refunds_due_for_enquiry()
    for refund_id in ids:
        refund_resolve(refund_id=refund_id)
    return len(ids)


@shared_task(name="refunds.intake")
def intake_task() -> dict:
    """Turn core refund_request.received events into refund requests (kicked on publish + beat)."""
    from .intake import consume

    return consume(limit=500)
