import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone

from enhancements.events import outbox
from enhancements.events.models import OutboxDelivery, OutboxEvent
from enhancements.events.registry import register_consumer, unregister_consumer


@pytest.fixture
def consumers():
    register_consumer("test-a", ["payment.*"])
    register_consumer("test-b", ["payment.succeeded", "refund.*"])
    yield
    unregister_consumer("test-a")
    unregister_consumer("test-b")


def _event(key="k1", type="payment.succeeded", **kw):
    return dict(event_key=key, type=type, payload={"amount": Decimal("10.50")}, occurred_at=timezone.now(), **kw)


@pytest.mark.django_db
def test_publish_is_idempotent_and_fans_out_to_matching_consumers(consumers):
    assert outbox.publish(**_event(txn_id="T1")) is True
    assert outbox.publish(**_event(txn_id="T1")) is False
    assert OutboxEvent.objects.count() == 1
    event = OutboxEvent.objects.get()
    assert event.payload == {"amount": "10.50"}  # Decimal kept exact, as text
    outbox.publish(**_event("k2", "refund.created"))
    # each consumer gets exactly the events its patterns match, once
    assert [c.event.event_key for c in outbox.claim(consumer="test-a")] == ["k1"]
    assert [c.event.event_key for c in outbox.claim(consumer="test-b")] == ["k1", "k2"]
    assert outbox.claim(consumer="test-a") == [] and outbox.claim(consumer="test-b") == []
    assert OutboxDelivery.objects.filter(consumer__startswith="test-").count() == 3


@pytest.mark.django_db
def test_claim_ack_retry_and_lease_expiry(consumers):
    for i in range(5):
        outbox.publish(**_event(f"k{i}"))
    first = outbox.claim(consumer="test-a", limit=3, lease_seconds=60)
    assert len(first) == 3 and all(c.attempts == 1 for c in first)
    second = outbox.claim(consumer="test-a", limit=10)
    assert len(second) == 2  # leased ones are not handed out twice
    assert outbox.claim(consumer="test-a", limit=10) == []
    assert outbox.ack(consumer="test-a", delivery_ids=[c.delivery_id for c in first]) == 3
    outbox.retry(consumer="test-a", delivery_ids=[second[0].delivery_id], delay=dt.timedelta(0), error="boom")
    again = outbox.claim(consumer="test-a", limit=10)
    assert [c.delivery_id for c in again] == [second[0].delivery_id] and again[0].attempts == 2
    # a consumer that died: its lease expires and the delivery comes back
    OutboxDelivery.objects.filter(id=second[1].delivery_id).update(available_at=timezone.now() - dt.timedelta(seconds=1))
    assert [c.delivery_id for c in outbox.claim(consumer="test-a")] == [second[1].delivery_id]
    # other consumers are unaffected
    assert len(outbox.claim(consumer="test-b", limit=10)) == 5


@pytest.mark.django_db(transaction=True)
def test_concurrent_claimers_never_share_a_delivery(consumers):
    for i in range(200):
        outbox.publish(**_event(f"c{i}"))
    seen: list[int] = []
    lock = threading.Lock()

    def worker():
        try:
            while batch := outbox.claim(consumer="test-a", limit=7):
                with lock:
                    seen.extend(c.delivery_id for c in batch)
                outbox.ack(consumer="test-a", delivery_ids=[c.delivery_id for c in batch])
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 200 and len(set(seen)) == 200
    assert OutboxDelivery.objects.filter(consumer="test-a", state="done").count() == 200


@pytest.mark.django_db
def test_events_roll_back_with_the_producer_transaction(consumers):
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            outbox.publish(**_event("rolled-back"))
            raise RuntimeError("producer failed")
    assert not OutboxEvent.objects.filter(event_key="rolled-back").exists()


def test_unknown_consumers_and_unsupported_patterns_are_refused():
    with pytest.raises(LookupError, match="no consumer named 'nobody'"):
        outbox.claim(consumer="nobody")
    with pytest.raises(ValueError, match=r"only '\*' and '\?'"):
        register_consumer("test-bad", ["payment.[ab]*"])


@pytest.mark.django_db
def test_patterns_match_literally_apart_from_wildcards():
    register_consumer("test-literal", ["pay_ment.?ucceeded"])
    try:
        outbox.publish(**_event("lit-1", "pay_ment.succeeded"))
        outbox.publish(**_event("lit-2", "payXment.succeeded"))  # '_' is not a wildcard
        assert [c.event.event_key for c in outbox.claim(consumer="test-literal")] == ["lit-1"]
    finally:
        unregister_consumer("test-literal")


@pytest.mark.django_db
def test_a_consumer_registered_later_catches_up_on_the_retained_events(consumers):
    outbox.publish(**_event("before-1"))
    outbox.publish(**_event("before-2"))
    register_consumer("test-late", ["payment.*"])
    try:
        assert [c.event.event_key for c in outbox.claim(consumer="test-late")] == ["before-1", "before-2"]
    finally:
        unregister_consumer("test-late")


def _other_connection():
    import psycopg

    settings = connection.settings_dict
    conn = psycopg.connect(
        host=settings["HOST"], port=settings["PORT"] or 5432, user=settings["USER"], dbname=settings["NAME"],
        password=settings["PASSWORD"] or None, autocommit=False, options="-c search_path=enh,public",
    )  # fmt: skip
    return conn


@pytest.mark.django_db(transaction=True)
def test_an_event_committed_late_by_an_older_transaction_is_not_skipped(consumers):
    """The cursor must never pass an event a still-running transaction is about to commit."""
    slow = _other_connection()
    try:
        # An older producer: has its transaction id, writes an event, has not committed yet.
        slow.execute("SELECT pg_current_xact_id()")
        slow.execute(
            "INSERT INTO outbox_events (id, event_key, type, payload, occurred_at, created_at)"
            " VALUES (outbox_uuid7(), 'slow', 'payment.succeeded', '{}', now(), now())"
        )
        outbox.publish(**_event("fast"))  # a younger producer commits first
        assert [c.event.event_key for c in outbox.claim(consumer="test-a")] == ["fast"]
        slow.commit()
        assert [c.event.event_key for c in outbox.claim(consumer="test-a")] == ["slow"]
        assert outbox.claim(consumer="test-a") == []
        assert OutboxDelivery.objects.filter(consumer="test-a").count() == 2
    finally:
        slow.close()


@pytest.mark.django_db(transaction=True)
def test_a_long_transaction_elsewhere_does_not_hold_consumers_back(consumers):
    idle = _other_connection()
    try:
        idle.execute("SELECT pg_current_xact_id()")  # holds the cluster's xmin back, writes nothing
        for i in range(3):
            outbox.publish(**_event(f"during-{i}"))
        assert [c.event.event_key for c in outbox.claim(consumer="test-a")] == ["during-0", "during-1", "during-2"]
        idle.rollback()
        outbox.publish(**_event("after"))
        # the cursor now passes the three again: nothing is delivered twice
        assert [c.event.event_key for c in outbox.claim(consumer="test-a")] == ["after"]
        assert OutboxDelivery.objects.filter(consumer="test-a").count() == 4
    finally:
        idle.close()


@pytest.mark.django_db
def test_has_due_sees_events_that_have_no_delivery_yet(consumers):
    assert outbox.has_due(consumer="test-a") is False
    outbox.publish(**_event("due-1"))
    assert outbox.has_due(consumer="test-a") is True
    claimed = outbox.claim(consumer="test-a")
    assert outbox.has_due(consumer="test-a") is False  # leased
    outbox.ack(consumer="test-a", delivery_ids=[c.delivery_id for c in claimed])
    assert outbox.has_due(consumer="test-a") is False
