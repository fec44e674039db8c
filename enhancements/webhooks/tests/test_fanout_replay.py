"""Fan-out from the outbox, templates, the body size limit, replay, recover, test ping."""

import datetime as dt
import json

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from enhancements.events.models import OutboxDelivery
from enhancements.webhooks import services
from enhancements.webhooks.fanout import fan_out_batch
from enhancements.webhooks.models import WebhookDelivery, WebhookTemplate

pytestmark = pytest.mark.django_db


def test_one_delivery_per_subscribed_endpoint_and_ack_in_same_step(receiver, publish):
    a1, _ = services.endpoint_create(client_id=101, client_code="M101", url=receiver.url, event_types=["payment.succeeded"])
    a2, _ = services.endpoint_create(client_id=101, client_code="M101", url=receiver.url + "/2", event_types=["*"])
    a3, _ = services.endpoint_create(client_id=101, client_code="M101", url=receiver.url + "/3", event_types=["refund.*"])
    services.endpoint_create(client_id=202, client_code="M202", url=receiver.url, event_types=["*"])
    publish("payment.succeeded", client_id=101)
    publish("refund.created", client_id=101)
    assert fan_out_batch() == 2
    pairs = sorted((d.endpoint_id == a1.pk, d.endpoint_id == a2.pk, d.endpoint_id == a3.pk, d.event_type)
                   for d in WebhookDelivery.objects.all())  # fmt: skip
    assert pairs == sorted([(True, False, False, "payment.succeeded"), (False, True, False, "payment.succeeded"),
                            (False, True, False, "refund.created"), (False, False, True, "refund.created")])  # fmt: skip
    assert set(OutboxDelivery.objects.filter(consumer="webhooks").values_list("state", flat=True)) == {"done"}
    assert fan_out_batch() == 0
    # the same event to two endpoints carries the same webhook-id; different events differ
    assert WebhookDelivery.objects.values("msg_id").distinct().count() == 2


def test_fan_out_is_idempotent_when_a_lease_expires(receiver, publish):
    services.endpoint_create(client_id=101, client_code="M101", url=receiver.url, event_types=["*"])
    publish()
    fan_out_batch()
    # as if the worker died after inserting but before the ack was seen: the event comes back
    OutboxDelivery.objects.filter(consumer="webhooks").update(state="pending", available_at=timezone.now())
    fan_out_batch()
    assert WebhookDelivery.objects.count() == 1


def test_a_fan_out_that_dies_mid_batch_leaves_every_event_claimable_at_once(receiver, publish, monkeypatch):
    # Claim, insert and ack are one transaction: a crash while rendering the second event
    # must not leave the first fanned out-but-pending, nor both leased for a minute.
    from enhancements.webhooks import fanout

    services.endpoint_create(client_id=101, client_code="M101", url=receiver.url, event_types=["*"])
    publish("payment.succeeded", client_id=101)
    publish("refund.created", client_id=101)
    real_render, calls = fanout.render, []

    def dying_render(**kwargs):
        calls.append(kwargs["event_type"])
        if len(calls) == 2:
            raise RuntimeError("worker died")
        return real_render(**kwargs)

    monkeypatch.setattr(fanout, "render", dying_render)
    with pytest.raises(RuntimeError):
        fan_out_batch()
    assert WebhookDelivery.objects.count() == 0
    assert list(OutboxDelivery.objects.filter(consumer="webhooks").values_list("state", "attempts")) == [("pending", 0)] * 2
    monkeypatch.setattr(fanout, "render", real_render)
    assert fan_out_batch() == 2  # due right away, no lease to wait out
    assert WebhookDelivery.objects.count() == 2
    assert list(OutboxDelivery.objects.filter(consumer="webhooks").values_list("state", "attempts")) == [("done", 1)] * 2


def test_template_version_is_frozen_at_enqueue_time(receiver, publish, worker):
    endpoint, secret = services.endpoint_create(client_id=101, client_code="M101", url=receiver.url, event_types=["*"])
    WebhookTemplate.objects.create(event_type="payment.succeeded", version=2, fields=["txn_id", "amount"], rename={"amount": "amount_inr"})
    txn = publish(payload={"internal_note": "x"})
    fan_out_batch()
    WebhookTemplate.objects.create(event_type="payment.succeeded", version=3, fields=["txn_id"])  # after enqueue
    worker.run_batch()
    data = Webhook(secret).verify(receiver.requests[0].body, receiver.requests[0].headers)
    assert data["data"] == {"txn_id": txn, "amount_inr": "1250.50"}
    assert WebhookDelivery.objects.get().template_version == 2


def test_oversized_body_is_refused_at_enqueue_with_a_clear_error(receiver, publish):
    services.endpoint_create(client_id=101, client_code="M101", url=receiver.url, event_types=["*"])
    publish(payload={"blob": "x" * 21_000})
    small = publish()
    fan_out_batch()
    assert list(WebhookDelivery.objects.values_list("txn_id", flat=True)) == [small]
    refused = OutboxDelivery.objects.get(consumer="webhooks", state="failed")
    assert "bytes; the limit is 20,480 bytes" in refused.last_error


def test_replay_one_delivery_keeps_id_and_body(receiver, publish, worker):
    endpoint, secret = services.endpoint_create(client_id=101, client_code="M101", url=receiver.url, event_types=["*"])
    publish()
    fan_out_batch()
    worker.run_batch()
    original = WebhookDelivery.objects.get()
    replay = services.delivery_replay(delivery=original)
    worker.run_batch()
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] and first.body == second.body
    Webhook(secret).verify(second.body, second.headers)
    replay.refresh_from_db()
    assert replay.state == "succeeded" and replay.replay_of_id == original.id


def test_recover_replays_failed_deliveries_since_a_time(receiver, publish, worker):
    endpoint, _ = services.endpoint_create(client_id=101, client_code="M101", url=receiver.url, event_types=["*"])
    for _ in range(3):
        publish()
    fan_out_batch()
    receiver.respond(400, 400)  # rejected: dead-lettered at once; the third succeeds
    worker.run_batch()
    assert WebhookDelivery.objects.filter(state="failed").count() == 2
    old = WebhookDelivery.objects.filter(state="failed").first()
    WebhookDelivery.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=3))

    since = timezone.now() - dt.timedelta(days=1)
    assert services.endpoint_recover(endpoint=endpoint, since=since) == 1
    assert services.endpoint_recover(endpoint=endpoint, since=since) == 0  # already being replayed
    assert services.endpoint_recover(endpoint=endpoint, since=timezone.now() - dt.timedelta(days=4)) == 1
    worker.run_batch()
    assert len(receiver.requests) == 5
    assert WebhookDelivery.objects.filter(state="succeeded").count() == 3

    with pytest.raises(ValidationError, match="at most 14 days"):
        services.endpoint_recover(endpoint=endpoint, since=timezone.now() - dt.timedelta(days=15))


def test_disabling_dead_letters_queued_deliveries_and_recover_brings_them_back(receiver, publish, worker):
    endpoint, _ = services.endpoint_create(client_id=101, client_code="M101", url=receiver.url, event_types=["*"])
    publish()
    publish()
    fan_out_batch()
    services.endpoint_disable(endpoint=endpoint, reason="maintenance window")
    worker.run_batch()
    assert receiver.requests == []
    assert set(WebhookDelivery.objects.values_list("last_error", flat=True)) == {"endpoint disabled: maintenance window"}
    with pytest.raises(ValidationError, match="disabled"):
        services.endpoint_recover(endpoint=endpoint, since=timezone.now() - dt.timedelta(hours=1))
    endpoint = services.endpoint_enable(endpoint=endpoint)
    assert services.endpoint_recover(endpoint=endpoint, since=timezone.now() - dt.timedelta(hours=1)) == 2
    worker.run_batch()
    assert len(receiver.requests) == 2


def test_test_ping(receiver, worker):
    endpoint, secret = services.endpoint_create(client_id=101, client_code="M101", url=receiver.url, event_types=["refund.*"])
    delivery = services.endpoint_test_ping(endpoint=endpoint)
    worker.run_batch()
    data = Webhook(secret).verify(receiver.requests[0].body, receiver.requests[0].headers)
    assert data["type"] == "webhook.test" and data["data"]["endpoint_id"] == str(endpoint.pk)
    delivery.refresh_from_db()
    assert delivery.state == "succeeded"
    assert json.loads(delivery.body)["type"] == "webhook.test"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"url": "ftp://example.org/x"}, "must start with"),
        ({"url": "http://user:pw@127.0.0.1/x"}, "credentials"),
        ({"url": "http://10.1.2.3/x"}, "non-public range"),
        ({"url": "http://169.254.169.254/latest"}, "metadata"),
        ({"event_types": []}, "non-empty list"),
        ({"event_types": ["paymnt.*"]}, "matches no event type"),
        ({"timeout_s": 120}, "between 1 and 30"),
        ({"rate_limit_per_s": 0}, "rate limit"),
    ],
)
def test_endpoint_input_errors(receiver, kwargs, message):
    values = {"url": receiver.url, "event_types": ["*"], **kwargs}
    with pytest.raises(ValidationError, match=message):
        services.endpoint_create(client_id=101, client_code="M101", **values)
