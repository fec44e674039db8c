"""The beat task in a real Celery worker; overlapping beat polls skip instead of piling up."""

from __future__ import annotations

import time

import pytest

from enhancements.changefeed.services import LOCK_POLL, feed_poll
from enhancements.changefeed.tasks import poll

from .conftest import ist


@pytest.mark.django_db(transaction=True, databases=["default", "core"])
def test_beat_task_in_a_real_worker_publishes_events(core_rows, feed_events, celery_worker):
    row = core_rows.transaction(trans_date=ist(days_ago=1))
    poll.delay()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not feed_events():
        time.sleep(0.3)
    assert [(e.type, e.txn_id) for e in feed_events()] == [("payment.succeeded", row["txn_id"])]


@pytest.mark.django_db(databases=["default", "core"])
def test_beat_poll_skips_while_another_poll_runs(core_rows, feed_events):
    core_rows.transaction(trans_date=ist(days_ago=1))
    core_rows.execute("SELECT pg_advisory_lock(%s)", [LOCK_POLL])  # another poll is running
    try:
        assert feed_poll(skip_if_running=True).skipped is True
        assert feed_events() == []
    finally:
        core_rows.execute("SELECT pg_advisory_unlock(%s)", [LOCK_POLL])
    assert feed_poll(skip_if_running=True).events == 1
