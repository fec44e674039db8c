from __future__ import annotations

import datetime as dt

import pytest

from core_legacy.fields import to_core_naive


@pytest.fixture
def feed_events():
    """The feed's events, by type, as (txn_id or refund id, payload) lists."""
    from enhancements.changefeed.derive import FEED_EVENT_TYPES
    from enhancements.events.models import OutboxEvent

    def read(**filters):
        return list(OutboxEvent.objects.filter(type__in=FEED_EVENT_TYPES, **filters).order_by("created_at", "type"))

    return read


def ist(days_ago: float = 0, **delta) -> dt.datetime:
    """A naive India-time timestamp `days_ago` days before now (as the core writes them)."""
    from django.utils import timezone

    return to_core_naive(timezone.now() - dt.timedelta(days=days_ago, **delta)).replace(microsecond=0)
