"""Celery wrappers (thin): the beat poll."""

from __future__ import annotations

from celery import shared_task

from .services import feed_poll


@shared_task(name="enhancements.changefeed.tasks.poll", ignore_result=True)
def poll() -> dict:
    # A poll still running from the previous tick holds the poll lock: skip, do not queue up.
    result = feed_poll(skip_if_running=True)
    return {"skipped": result.skipped, "rows_changed": result.rows_changed, "events": result.events}
