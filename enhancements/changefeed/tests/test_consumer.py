"""A consumer's view: claim feed events, ack them, never see an acked one again."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from enhancements.changefeed.apps import AUDIT_CONSUMER
from enhancements.changefeed.derive import FEED_EVENT_TYPES
from enhancements.changefeed.services import feed_poll
from enhancements.events import outbox
from enhancements.events.registry import register_consumer, unregister_consumer

from .conftest import ist

pytestmark = pytest.mark.django_db(databases=["default", "core"])


@pytest.fixture
def audit_consumer():
    register_consumer(AUDIT_CONSUMER, list(FEED_EVENT_TYPES))
    yield AUDIT_CONSUMER
    unregister_consumer(AUDIT_CONSUMER)


def test_consumer_claims_and_acks_feed_events(core_rows, audit_consumer):
    rows = [core_rows.transaction(trans_date=ist(days_ago=1)) for _ in range(3)]
    feed_poll()
    first = outbox.claim(consumer=audit_consumer, limit=2)
    second = outbox.claim(consumer=audit_consumer, limit=10)
    assert len(first) == 2 and len(second) == 1  # a claimed delivery is not handed out twice
    claimed = first + second
    assert {c.event.txn_id for c in claimed} == {r["txn_id"] for r in rows}
    assert all(c.event.type == "payment.succeeded" and c.event.payload["amount"] == "1000.00" for c in claimed)
    assert outbox.ack(consumer=audit_consumer, delivery_ids=[c.delivery_id for c in claimed]) == 3
    feed_poll()  # nothing new in the core: nothing new to claim
    assert outbox.claim(consumer=audit_consumer) == []


def test_consume_events_command_peeks_then_acks(core_rows, audit_consumer):
    row = core_rows.transaction(trans_date=ist(days_ago=1), status="FAILED", sabpaisa_resp_code="0300")
    feed_poll()
    peek = io.StringIO()
    call_command("consume_events", "--consumer", audit_consumer, stdout=peek, stderr=io.StringIO())
    (line,) = peek.getvalue().splitlines()
    printed = json.loads(line)
    assert printed["type"] == "payment.failed" and printed["txn_id"] == row["txn_id"]
    assert printed["payload"]["status"] == "FAILED"
    acked = io.StringIO()
    call_command("consume_events", "--consumer", audit_consumer, "--ack", stdout=acked, stderr=io.StringIO())
    assert len(acked.getvalue().splitlines()) == 1  # the peek handed it back
    assert outbox.claim(consumer=audit_consumer) == []


def test_consume_events_rejects_unknown_consumer():
    with pytest.raises(CommandError, match="no consumer 'nobody' is registered"):
        call_command("consume_events", "--consumer", "nobody")
