"""Merchant API: endpoint management, secret shown once, deliveries/attempts, replay,
recover, test ping, and isolation (another merchant's objects are 404)."""

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook

from enhancements.platform.merchant_auth import merchant_api_key_create
from enhancements.webhooks.fanout import fan_out_batch
from enhancements.webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db
BASE = "/api/v1/webhooks"


def _client(client_id, code):
    _, key = merchant_api_key_create(client_id=client_id, client_code=code, name="test")
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return c


@pytest.fixture
def merchant_a():
    return _client(101, "M101")


@pytest.fixture
def merchant_b():
    return _client(202, "M202")


def test_create_shows_secret_once_and_signs_with_it(merchant_a, receiver, publish, worker):
    r = merchant_a.post(f"{BASE}/endpoints/", {"url": receiver.url, "event_types": ["payment.*"], "description": "main"}, format="json")
    assert r.status_code == 201, r.content
    secret, endpoint_id = r.json()["secret"], r.json()["id"]
    assert secret.startswith("whsec_")
    got = merchant_a.get(f"{BASE}/endpoints/{endpoint_id}/").json()
    assert "secret" not in got and "secret_encrypted" not in got and got["description"] == "main"
    assert secret not in merchant_a.get(f"{BASE}/endpoints/").content.decode()

    publish(client_id=101)
    fan_out_batch()
    worker.run_batch()
    Webhook(secret).verify(receiver.requests[0].body, receiver.requests[0].headers)

    deliveries = merchant_a.get(f"{BASE}/deliveries/").json()["results"]
    assert len(deliveries) == 1 and deliveries[0]["state"] == "succeeded"
    attempts = merchant_a.get(f"{BASE}/deliveries/{deliveries[0]['id']}/attempts/").json()
    assert [a["status_code"] for a in attempts] == [200]


def test_bad_input_gets_specific_errors(merchant_a, receiver):
    r = merchant_a.post(f"{BASE}/endpoints/", {"url": "http://10.0.0.5/x", "event_types": ["*"]}, format="json")
    assert r.status_code == 400 and "non-public range" in r.json()["url"][0]
    r = merchant_a.post(f"{BASE}/endpoints/", {"url": receiver.url, "event_types": ["nope"]}, format="json")
    assert r.status_code == 400 and "matches no event type" in r.json()["event_types"][0]
    r = merchant_a.post(f"{BASE}/endpoints/", {"url": receiver.url}, format="json")
    assert r.status_code == 400 and "event_types" in r.json()
    assert WebhookEndpoint.objects.count() == 0
    assert merchant_a.get(f"{BASE}/deliveries/?state=bogus").status_code == 400
    assert merchant_a.get(f"{BASE}/endpoints/not-a-uuid/").status_code == 404


def test_update_rotate_ping_recover(merchant_a, receiver, worker):
    r = merchant_a.post(f"{BASE}/endpoints/", {"url": receiver.url, "event_types": ["*"]}, format="json")
    endpoint_id, old = r.json()["id"], r.json()["secret"]
    r = merchant_a.patch(f"{BASE}/endpoints/{endpoint_id}/", {"timeout_s": 5, "event_types": ["refund.*"]}, format="json")
    assert r.status_code == 200 and r.json()["timeout_s"] == 5 and r.json()["event_types"] == ["refund.*"]
    r = merchant_a.post(f"{BASE}/endpoints/{endpoint_id}/rotate-secret/", {"grace_period_hours": 1}, format="json")
    new = r.json()["secret"]
    assert r.status_code == 200 and new != old
    r = merchant_a.post(f"{BASE}/endpoints/{endpoint_id}/test/")
    assert r.status_code == 202
    worker.run_batch()
    Webhook(new).verify(receiver.requests[0].body, receiver.requests[0].headers)
    Webhook(old).verify(receiver.requests[0].body, receiver.requests[0].headers)

    since = (timezone.now() - dt.timedelta(days=20)).isoformat()
    r = merchant_a.post(f"{BASE}/endpoints/{endpoint_id}/recover/", {"since": since}, format="json")
    assert r.status_code == 400 and "14 days" in str(r.json())
    r = merchant_a.post(f"{BASE}/endpoints/{endpoint_id}/recover/", {"since": timezone.now().isoformat()}, format="json")
    assert r.status_code == 202 and r.json() == {"queued": 0}
    r = merchant_a.patch(f"{BASE}/endpoints/{endpoint_id}/", {"is_active": False}, format="json")
    assert r.json()["is_active"] is False and r.json()["disabled_reason"] == "disabled by the merchant"
    assert merchant_a.post(f"{BASE}/endpoints/{endpoint_id}/test/").status_code == 400


def test_merchant_cannot_see_or_touch_another_merchants_data(merchant_a, merchant_b, receiver, publish, worker):
    r = merchant_a.post(f"{BASE}/endpoints/", {"url": receiver.url, "event_types": ["*"]}, format="json")
    a_endpoint = r.json()["id"]
    publish(client_id=101)
    fan_out_batch()
    worker.run_batch()
    a_delivery = WebhookDelivery.objects.get().id

    assert merchant_b.get(f"{BASE}/endpoints/").json()["results"] == []
    assert merchant_b.get(f"{BASE}/deliveries/").json()["results"] == []
    assert merchant_b.get(f"{BASE}/deliveries/?endpoint={a_endpoint}").json()["results"] == []
    for method, url, data in [
        ("get", f"{BASE}/endpoints/{a_endpoint}/", None),
        ("patch", f"{BASE}/endpoints/{a_endpoint}/", {"url": "http://127.0.0.1:9/evil"}),
        ("delete", f"{BASE}/endpoints/{a_endpoint}/", None),
        ("post", f"{BASE}/endpoints/{a_endpoint}/rotate-secret/", {}),
        ("post", f"{BASE}/endpoints/{a_endpoint}/test/", None),
        ("post", f"{BASE}/endpoints/{a_endpoint}/recover/", {"since": timezone.now().isoformat()}),
        ("get", f"{BASE}/deliveries/{a_delivery}/", None),
        ("get", f"{BASE}/deliveries/{a_delivery}/attempts/", None),
        ("post", f"{BASE}/deliveries/{a_delivery}/replay/", None),
    ]:
        r = getattr(merchant_b, method)(url, data, format="json")
        assert r.status_code == 404, (method, url, r.status_code)
    endpoint = WebhookEndpoint.objects.get(pk=a_endpoint)
    assert endpoint.url == receiver.url and endpoint.secret_rotated_at is None
    assert WebhookDelivery.objects.count() == 1
    # and A can do all of it
    assert merchant_a.post(f"{BASE}/deliveries/{a_delivery}/replay/").status_code == 202
    assert merchant_a.delete(f"{BASE}/endpoints/{a_endpoint}/").status_code == 204


def test_operator_session_or_no_key_is_refused(receiver, django_user_model):
    assert APIClient().get(f"{BASE}/endpoints/").status_code in (401, 403)
    staff = django_user_model.objects.create_user("op", password="x", is_staff=True)
    c = APIClient()
    c.force_authenticate(staff)
    assert c.get(f"{BASE}/endpoints/").status_code in (401, 403)


def test_openapi_schema_documents_the_api():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = [p for p in schema["paths"] if p.startswith(BASE)]
    assert f"{BASE}/endpoints/{{id}}/rotate-secret/" in paths and f"{BASE}/deliveries/{{id}}/replay/" in paths


def test_operator_admin_search_replay_recover_and_health(client, django_user_model, receiver, publish, worker):
    op = django_user_model.objects.create_superuser("admin", "a@example.org", "pw")
    client.force_login(op)
    from enhancements.webhooks import services

    endpoint, _ = services.endpoint_create(client_id=101, client_code="M101", url=receiver.url, event_types=["*"])
    txn = publish()
    publish()
    fan_out_batch()
    receiver.respond(400, 400)
    worker.run_batch()
    r = client.get("/admin/webhooks/webhookdelivery/", {"q": txn})
    assert r.status_code == 200 and r.content.decode().count(txn) >= 1
    r = client.get("/admin/webhooks/webhookendpoint/")
    assert r.status_code == 200 and "0.0% of 2" in r.content.decode()
    delivery = WebhookDelivery.objects.get(txn_id=txn)
    r = client.post("/admin/webhooks/webhookdelivery/", {"action": "replay", "_selected_action": [delivery.pk]})
    assert r.status_code == 302 and WebhookDelivery.objects.filter(replay_of=delivery).count() == 1
    r = client.post("/admin/webhooks/webhookendpoint/", {"action": "recover_action", "_selected_action": [endpoint.pk]})
    assert r.status_code == 200 and b"Recover" in r.content
    since = (timezone.now() - dt.timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    r = client.post("/admin/webhooks/webhookendpoint/", {"action": "recover_action", "_selected_action": [endpoint.pk],
                                                          "apply": "1", "since": since})  # fmt: skip
    assert r.status_code == 302
    assert WebhookDelivery.objects.filter(is_replay=True).count() == 2  # the other failed one (the replayed one is not replayed twice)
    delivery_page = client.get(f"/admin/webhooks/webhookdelivery/{delivery.pk}/change/")
    assert delivery_page.status_code == 200 and b"#1" in delivery_page.content
    page = client.get(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/")
    assert page.status_code == 200 and b"0.0% of 2" in page.content and b"secret_encrypted" not in page.content
    form = {"url": receiver.url, "description": "ops edit", "event_types": '["payment.*"]', "timeout_s": "7",
            "rate_limit_per_s": "", "is_active": "on", "alerts-TOTAL_FORMS": "0", "alerts-INITIAL_FORMS": "0"}  # fmt: skip
    r = client.post(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/", form)
    assert r.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.timeout_s == 7 and endpoint.event_types == ["payment.*"] and endpoint.description == "ops edit"
    for page in ("webhookalert", "webhooktemplate", "webhookattempt"):
        assert client.get(f"/admin/webhooks/{page}/").status_code == 200
