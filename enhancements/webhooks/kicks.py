"""Kick the Celery tasks on commit, for latency. Never raises: a lost kick is picked up by
the beat sweep. At most one kick per task is queued at a time (a short-lived Redis key the
task clears when it starts, before it looks for work, so no work is ever left unseen)."""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.db import transaction

log = logging.getLogger(__name__)

PUMP_KEY = "webhooks:kick:pump"
KEY_TTL_S = 5


def _kick(key: str, task_name: str) -> None:
    try:
        if not cache.add(key, 1, timeout=KEY_TTL_S):
            return
    except Exception:  # Redis down: still try to send; the sweep covers a failure
        log.warning("webhooks: kick dedupe key unavailable", exc_info=True)
    try:
        from . import tasks

        getattr(tasks, task_name).apply_async(retry=False, queue=tasks.QUEUE)
    except Exception:
        log.warning("webhooks: could not queue %s; the beat sweep will pick the work up", task_name, exc_info=True)
        try:
            cache.delete(key)
        except Exception:
            pass


def clear(key: str) -> None:
    try:
        cache.delete(key)
    except Exception:
        log.warning("webhooks: could not clear %s", key, exc_info=True)


def pump_now() -> None:
    _kick(PUMP_KEY, "pump")


# One task does both steps (see tasks.pump); the names say why a caller kicks.
fanout_now = deliver_now = pump_now


def after_commit_deliver() -> None:
    transaction.on_commit(deliver_now)


def on_outbox_deliveries(sender, consumers, **kwargs) -> None:
    """deliveries_created receiver (already on commit)."""
    if "webhooks" in consumers:
        fanout_now()
