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
    mine = OutboxDelivery.objects.filter(consumer__startswith="test-")  # other apps' consumers may be registered too
    assert sorted(mine.values_list("consumer", flat=True)) == ["test-a", "test-b"]
    outbox.publish(**_event("k2", "refund.created"))
    assert list(mine.filter(event__event_key="k2").values_list("consumer", flat=True)) == ["test-b"]


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
