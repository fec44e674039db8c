"""Inbound gateway callbacks: stored raw, HMAC-verified, applied once, re-processable."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from enhancements.refunds import services
from enhancements.refunds.callbacks import callback_process
from enhancements.refunds.execution import refund_execute
from enhancements.refunds.models import InboundCallback, RefundSource, RefundState
from integrations.core_gateway.signing import signed_headers

pytestmark = pytest.mark.django_db(databases=["default", "core"])
URL = "/api/v1/refunds/callbacks/core-gateway/"


def post(payload, *, secret=None, raw: bytes | None = None, timestamp=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = signed_headers(secret=secret or settings.CORE_CALLBACK_SECRET, body=body, timestamp=timestamp)
    meta = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
    return APIClient().post(URL, data=body, content_type="application/json", **meta)


@pytest.fixture
def pending_refund(people, paid_txn, simulator):
    import requests

    requests.post(simulator.url + "/_sim/behaviour", json={"mode": "pending"}, timeout=5)
    refund = services.refund_create(amount="75", source=RefundSource.OPERATOR, txn_id=paid_txn()["txn_id"], actor=people["maker"])
    services.refund_approve(refund_id=refund.pk, actor=people["l1"])
    refund = refund_execute(refund_id=refund.pk)
    assert refund.state == RefundState.PROCESSING
    return refund


def test_signed_callback_completes_the_refund_once(pending_refund):
    payload = {"event_id": "evt-1", "type": "refund.status", "idempotency_key": str(pending_refund.idempotency_key),
               "status": "COMPLETED", "gateway_refund_id": "CGR1", "message": "credited"}  # fmt: skip
    first = post(payload)
    assert first.status_code == 200 and first.json()["status"] == "PROCESSED"
    pending_refund.refresh_from_db()
    assert pending_refund.state == RefundState.COMPLETED
    second = post(payload)
    assert second.json()["status"] == "DUPLICATE"
    assert pending_refund.workflow.filter(action="complete").count() == 1
    stored = InboundCallback.objects.order_by("id")
    assert [c.status for c in stored] == ["PROCESSED", "DUPLICATE"]
    assert stored[0].headers["x-core-signature"].startswith("sha256=") and json.loads(stored[0].body) == payload


def test_bad_signatures_are_stored_and_refused(pending_refund):
    payload = {"event_id": "evt-2", "type": "refund.status", "idempotency_key": str(pending_refund.idempotency_key),
               "status": "COMPLETED"}  # fmt: skip
    wrong = post(payload, secret="not-the-secret")
    assert wrong.status_code == 401 and "does not match" in wrong.json()["error"]
    stale = post(payload, timestamp=1_000_000_000)
    assert stale.status_code == 401 and "replay" in stale.json()["error"]
    unsigned = APIClient().post(URL, data=json.dumps(payload), content_type="application/json")
    assert unsigned.status_code == 401
    pending_refund.refresh_from_db()
    assert pending_refund.state == RefundState.PROCESSING
    assert InboundCallback.objects.filter(status="SIGNATURE_REJECTED", signature_valid=False).count() == 3


def test_invalid_payloads_and_reprocessing(pending_refund, settings):
    assert post(None, raw=b"not json").json()["status"] == "INVALID"
    assert post({"event_id": "e", "type": "refund.status", "status": "WEIRD"}).status_code == 400
    unknown = post({"event_id": "evt-3", "type": "refund.status", "idempotency_key": "nope", "status": "FAILED"})
    assert unknown.status_code == 422
    assert post({"event_id": "s-1", "type": "settlement.status", "utr": "U1"}).json()["status"] == "STORED"
    # A callback refused because our secret was rotated late is re-processed from admin once fixed.
    payload = {"event_id": "evt-4", "type": "refund.status", "idempotency_key": str(pending_refund.idempotency_key),
               "status": "FAILED", "message": "account closed"}  # fmt: skip
    settings.CORE_CALLBACK_SECRET = "new-secret"
    refused = post(payload, secret="old-secret")
    assert refused.status_code == 401
    settings.CORE_CALLBACK_SECRET = "old-secret"
    callback = callback_process(callback_id=refused.json()["callback_id"])
    assert callback.status == "PROCESSED" and callback.attempts == 2
    pending_refund.refresh_from_db()
    assert pending_refund.state == RefundState.FAILED and pending_refund.gateway_message == "account closed"


def test_simulator_posts_signed_callbacks_the_back_office_accepts(pending_refund, simulator, live_server):
    """End to end: the simulator completes a pending refund and calls us back over HTTP."""
    import requests

    simulator.state.callback_url = live_server.url + URL
    simulator.state.callback_secret = settings.CORE_CALLBACK_SECRET
    answer = requests.post(f"{simulator.url}/_sim/refunds/{pending_refund.idempotency_key}/complete",
                           json={"status": "COMPLETED"}, timeout=10).json()  # fmt: skip
    assert answer["callback"] == "HTTP 200"
    pending_refund.refresh_from_db()
    assert pending_refund.state == RefundState.COMPLETED
