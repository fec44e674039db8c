"""End to end with a real Celery worker: publish -> kick on commit -> fan-out -> delivery."""

import time

import pytest
from django.db import transaction
from standardwebhooks.webhooks import Webhook

from enhancements.webhooks import services
from enhancements.webhooks.models import WebhookDelivery


@pytest.mark.django_db(transaction=True)
def test_published_event_reaches_the_receiver_through_celery(receiver, publish, celery_worker):
    endpoint, secret = services.endpoint_create(client_id=101, client_code="M101", url=receiver.url, event_types=["payment.*"])
    with transaction.atomic():
        txn = publish("payment.succeeded")
    deadline = time.monotonic() + 20
    while not receiver.requests and time.monotonic() < deadline:
        time.sleep(0.1)
    assert receiver.requests, "nothing delivered within 20 s"
    data = Webhook(secret).verify(receiver.requests[0].body, receiver.requests[0].headers)
    assert data["data"]["txn_id"] == txn
    while WebhookDelivery.objects.filter(state="pending").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert WebhookDelivery.objects.get().state == "succeeded"

    # the beat sweep finds work whose kick was lost
    from enhancements.webhooks.tasks import sweep

    services.endpoint_test_ping(endpoint=endpoint)  # on_commit kick; sweep also finds it
    sweep()
    deadline = time.monotonic() + 20
    while len(receiver.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(receiver.requests) == 2
