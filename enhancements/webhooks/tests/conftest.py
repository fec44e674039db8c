import datetime as dt
import itertools

import pytest
from django.utils import timezone

from enhancements.events import outbox

from .receiver import Receiver

_keys = itertools.count(1)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def publish():
    """Publish an outbox event as a producer app would (change feed, refunds...)."""

    def _publish(type="payment.succeeded", *, client_id=101, client_code="M101", txn_id=None, payload=None):
        txn_id = txn_id or f"TX{next(_keys):08d}"
        body = {"client_id": client_id, "client_code": client_code, "txn_id": txn_id, "amount": "1250.50", "status": "success"}
        body.update(payload or {})
        outbox.publish(event_key=f"test:{type}:{txn_id}", type=type, payload=body, occurred_at=timezone.now() - dt.timedelta(seconds=1),
                       client_id=client_id, client_code=client_code, txn_id=txn_id)  # fmt: skip
        return txn_id

    return _publish


@pytest.fixture
def worker(settings):
    from enhancements.webhooks.delivery import Worker

    w = Worker(concurrency=4)
    yield w
    w.close()
