"""Deliveries to a real local receiver: signatures (checked by the standardwebhooks
library), retries and their schedule, Retry-After, 3xx, 410, auto-disable, dead letter."""

import datetime as dt
import json

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from enhancements.webhooks import services
from enhancements.webhooks.fanout import fan_out_batch
from enhancements.webhooks.models import WebhookAlert, WebhookAttempt, WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db


def _endpoint(receiver, **kwargs):
    kwargs.setdefault("event_types", ["payment.*"])
    return services.endpoint_create(client_id=101, client_code="M101", url=receiver.url, **kwargs)


def _make_due():
    WebhookDelivery.objects.filter(state="pending").update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))


def test_delivery_is_signed_per_standard_webhooks_and_verifiable(receiver, publish, worker):
    endpoint, secret = _endpoint(receiver)
    txn = publish("payment.succeeded", payload={"amount": "99.10"})
    assert fan_out_batch() == 1
    assert worker.run_batch() == 1

    (request,) = receiver.requests
    data = Webhook(secret).verify(request.body, request.headers)  # raises if the signature is wrong
    assert data["type"] == "payment.succeeded"
    assert data["data"]["txn_id"] == txn and data["data"]["amount"] == "99.10"
    assert request.headers["webhook-id"].startswith("msg_")
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB").verify(request.body, request.headers)
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "succeeded" and delivery.attempts == 1 and delivery.txn_id == txn
    (log,) = WebhookAttempt.objects.filter(delivery_id=delivery.id)
    assert log.status_code == 200 and log.signature == request.headers["webhook-signature"]
    assert secret not in log.signature and secret not in log.response_body


def test_retries_keep_the_webhook_id_and_follow_the_schedule(receiver, publish, worker, settings):
    settings.WEBHOOK_RETRY_SCHEDULE_S = [60, 600]
    settings.WEBHOOK_RETRY_JITTER = 0.2
    endpoint, secret = _endpoint(receiver)
    publish()
    fan_out_batch()
    receiver.respond(500, 503)

    before = timezone.now()
    worker.run_batch()
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "pending" and delivery.attempts == 1 and delivery.last_status_code == 500
    assert before + dt.timedelta(seconds=47) <= delivery.next_attempt_at <= timezone.now() + dt.timedelta(seconds=73)
    assert worker.run_batch() == 0  # not due yet

    _make_due()
    worker.run_batch()
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and delivery.next_attempt_at >= timezone.now() + dt.timedelta(seconds=470)

    _make_due()
    worker.run_batch()  # 200: third attempt succeeds
    delivery.refresh_from_db()
    assert delivery.state == "succeeded" and delivery.attempts == 3
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert len(receiver.requests) == 3 and len(ids) == 1
    for r in receiver.requests:
        Webhook(secret).verify(r.body, r.headers)
    assert list(WebhookAttempt.objects.filter(delivery_id=delivery.id).order_by("attempt").values_list("status_code", flat=True)) == [500, 503, 200]


def test_exhausted_retries_dead_letter(receiver, publish, worker, settings):
    settings.WEBHOOK_RETRY_SCHEDULE_S = [1]
    _endpoint(receiver)
    publish()
    fan_out_batch()
    receiver.respond(502, 502)
    worker.run_batch()
    _make_due()
    worker.run_batch()
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "failed" and delivery.attempts == 2
    assert "retries exhausted" in delivery.last_error and "HTTP 502" in delivery.last_error


def test_retry_after_is_honoured(receiver, publish, worker, settings):
    settings.WEBHOOK_RETRY_SCHEDULE_S = [5, 300]
    _endpoint(receiver)
    publish()
    fan_out_batch()
    receiver.respond((429, {"Retry-After": "120"}, b"slow down"))
    worker.run_batch()
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "pending" and delivery.last_status_code == 429
    assert delivery.next_attempt_at >= timezone.now() + dt.timedelta(seconds=115)
    assert WebhookAttempt.objects.get(delivery_id=delivery.id).response_body == "slow down"


def test_connection_refused_is_retried(publish, worker, settings):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    services.endpoint_create(client_id=101, client_code="M101", url=f"http://127.0.0.1:{port}/x", event_types=["*"])
    publish()
    fan_out_batch()
    worker.run_batch()
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "pending" and delivery.last_status_code is None and delivery.last_error


def test_redirect_is_a_failure_and_not_followed(receiver, publish, worker):
    _endpoint(receiver)
    publish()
    fan_out_batch()
    receiver.respond((302, {"Location": f"http://127.0.0.1:{receiver.port}/elsewhere"}, b""))
    worker.run_batch()
    assert [r.path for r in receiver.requests] == ["/hooks"]
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "failed" and "HTTP 302 (redirects are not followed)" in delivery.last_error


def test_410_disables_the_endpoint_and_alerts_operators(receiver, publish, worker):
    endpoint, _ = _endpoint(receiver)
    publish()
    publish()
    fan_out_batch()
    receiver.respond(410)
    worker.run_batch()  # both sent in one batch; one 410 is enough
    endpoint.refresh_from_db()
    assert not endpoint.is_active and "410" in endpoint.disabled_reason
    alert = WebhookAlert.objects.get(endpoint=endpoint)
    assert alert.kind == "gone" and alert.acknowledged_at is None
    publish()
    fan_out_batch()
    assert WebhookDelivery.objects.count() == 2  # a disabled endpoint gets no new deliveries


def test_continuous_failure_auto_disables_after_the_period(receiver, publish, worker, settings):
    settings.WEBHOOK_DISABLE_AFTER_FAILING_S = 5 * 86400
    endpoint, _ = _endpoint(receiver)
    publish()
    publish()
    fan_out_batch()
    receiver.respond(500, 500)
    worker.run_batch()
    endpoint.refresh_from_db()
    assert endpoint.is_active and endpoint.failing_since is not None  # failing, not long enough

    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - dt.timedelta(days=5, hours=1))
    _make_due()
    receiver.respond(500, 500)
    worker.run_batch()
    endpoint.refresh_from_db()
    assert not endpoint.is_active and "failing continuously" in endpoint.disabled_reason
    assert WebhookAlert.objects.filter(endpoint=endpoint, kind="auto_disabled").count() == 1
    publish()  # not fanned out to a disabled endpoint
    fan_out_batch()
    assert WebhookDelivery.objects.count() == 2


def test_success_resets_the_failure_period(receiver, publish, worker):
    endpoint, _ = _endpoint(receiver)
    publish()
    fan_out_batch()
    receiver.respond(500)
    worker.run_batch()
    _make_due()
    worker.run_batch()
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None and endpoint.last_success_at is not None and endpoint.last_failure_at is not None


def test_rotation_signs_with_both_secrets_during_grace_then_only_new(receiver, publish, worker):
    endpoint, old = _endpoint(receiver)
    endpoint, new = services.endpoint_rotate_secret(endpoint=endpoint, grace_period=dt.timedelta(hours=2))
    assert new != old and new.startswith("whsec_")
    publish()
    fan_out_batch()
    worker.run_batch()
    request = receiver.requests[-1]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(request.body, request.headers)
    Webhook(new).verify(request.body, request.headers)

    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(previous_secret_expires_at=timezone.now() - dt.timedelta(seconds=1))
    publish()
    fan_out_batch()
    worker.run_batch()
    request = receiver.requests[-1]
    Webhook(new).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(request.body, request.headers)


def test_secret_is_encrypted_at_rest(receiver):
    endpoint, secret = _endpoint(receiver)
    row = WebhookEndpoint.objects.values("secret_encrypted").get(pk=endpoint.pk)
    assert secret not in row["secret_encrypted"] and secret[6:] not in row["secret_encrypted"]
    import base64

    assert 24 <= len(base64.b64decode(secret[len("whsec_"):])) <= 64


def test_rate_limit_defers_without_counting_an_attempt(receiver, publish, worker):
    _endpoint(receiver, rate_limit_per_s=2)
    for _ in range(5):
        publish()
    fan_out_batch()
    worker.run_batch()
    states = sorted(WebhookDelivery.objects.values_list("attempts", flat=True))
    assert len(receiver.requests) == 2 and states == [0, 0, 0, 1, 1]


def test_body_is_json(receiver, publish, worker):
    _endpoint(receiver)
    publish(payload={"note": "₹ unicode"})
    fan_out_batch()
    worker.run_batch()
    assert json.loads(receiver.requests[0].body)["data"]["note"] == "₹ unicode"


def test_long_or_binary_response_bodies_are_logged_bounded(receiver, publish, worker):
    _endpoint(receiver)
    publish()
    publish()
    fan_out_batch()
    receiver.respond((500, {}, b"x" * 10_000), (500, {}, b"bad\x00body\xff"))
    worker.run_batch()
    bodies = sorted(WebhookAttempt.objects.values_list("response_body", flat=True), key=len)
    assert bodies[0] == "bad\ufffdbody\ufffd" and bodies[1] == "x" * 2048
