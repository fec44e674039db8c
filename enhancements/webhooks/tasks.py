"""Celery entry points (thin). Kicked on commit; `sweep` runs from beat for anything missed."""

from __future__ import annotations

import time

from celery import shared_task

from . import kicks

TASK_BUDGET_S = 20  # a task gives the worker back after this; it re-kicks itself if work remains
# Webhook tasks are sent to their own queue (kicks.py; the beat rows name it too) so a flood
# of other tasks never delays deliveries.
# Every worker consumes it too (apps.py adds it at worker start); production runs a
# dedicated one: `celery -A settings worker -Q webhooks`.
QUEUE = "webhooks"


@shared_task(name="enhancements.webhooks.tasks.pump")
def pump() -> int:
    """Alternate fan-out batches and delivery batches until neither finds work (or the time
    budget is spent). One task for both, so the deliveries a fan-out batch creates go out
    from the same process right away, and every worker process shares both kinds of work
    (separate tasks let long fan-out loops occupy every process while deliveries waited)."""
    from .delivery import Worker
    from .fanout import fan_out_batch

    kicks.clear(kicks.PUMP_KEY)
    worker = Worker.shared()
    deadline = time.monotonic() + TASK_BUDGET_S
    total = 0
    while True:
        work = fan_out_batch() + worker.run_batch()
        total += work
        if work == 0:
            return total
        if time.monotonic() >= deadline:
            kicks.pump_now()
            return total


@shared_task(name="enhancements.webhooks.tasks.sweep")
def sweep() -> None:
    """Beat: fan out and deliver whatever is due, whether or not a kick got lost."""
    from django.utils import timezone

    from enhancements.events import outbox

    from .fanout import CONSUMER
    from .models import WebhookDelivery

    now = timezone.now()
    if (
        outbox.has_due(consumer=CONSUMER)
        or WebhookDelivery.objects.filter(state="pending", next_attempt_at__lte=now).exists()
    ):
        kicks.pump_now()


@shared_task(name="enhancements.webhooks.tasks.maintain")
def maintain() -> dict:
    from .maintenance import maintain as run

    return run()
