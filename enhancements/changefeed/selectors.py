"""Reads for operators: where the feed stands."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count
from django.utils import timezone

from enhancements.events.models import OutboxEvent

from .derive import FEED_EVENT_TYPES
from .models import FeedError, FeedState


def events_last_hour(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Feed events created in the last hour, per type (every type listed, zeros included)."""
    now = now or timezone.now()
    counts = dict(
        OutboxEvent.objects.filter(created_at__gte=now - dt.timedelta(hours=1), type__in=FEED_EVENT_TYPES)
        .values_list("type")
        .annotate(n=Count("id"))
        .values_list("type", "n")
    )
    return {t: counts.get(t, 0) for t in FEED_EVENT_TYPES}


def feed_status(*, now: dt.datetime | None = None) -> dict:
    """Per source: watermark, lag, last poll; plus open errors and events per type in the last hour.

    lag = time since the start of the last complete poll (core changes after that moment
    are not in the outbox yet); watermark_age = time since the newest change the feed saw.
    """
    now = now or timezone.now()
    sources = {}
    for state in FeedState.objects.order_by("source"):
        sources[state.source] = {
            "lookback_days": state.lookback_days,
            "watermark": state.watermark,
            "watermark_age_s": _seconds(now, state.watermark),
            "last_refund_id": state.last_refund_id,
            "lag_s": _seconds(now, state.last_success_started_at),
            "last_poll_started_at": state.last_poll_started_at,
            "last_poll_finished_at": state.last_poll_finished_at,
            "last_poll_seconds": state.last_poll_seconds,
            "last_poll_rows_changed": state.last_poll_rows_changed,
            "last_poll_events": state.last_poll_events,
            "last_poll_error": state.last_poll_error,
            "backfill_since": state.backfill_since,
            "backfill_done_through": state.backfill_done_through,
        }
    return {
        "now": now,
        "sources": sources,
        "open_errors": FeedError.objects.filter(resolved_at__isnull=True).count(),
        "events_last_hour": events_last_hour(now=now),
    }


def _seconds(now: dt.datetime, then: dt.datetime | None) -> float | None:
    return None if then is None else round((now - then).total_seconds(), 1)
