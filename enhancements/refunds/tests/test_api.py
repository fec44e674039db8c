"""Merchant API: create, list, retrieve, cancel, only ever their own refunds."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from enhancements.platform.merchant_auth import merchant_api_key_create
from enhancements.refunds.models import RefundRequest

pytestmark = pytest.mark.django_db(databases=["default", "core"])


def client_for(txn) -> APIClient:
    _, key = merchant_api_key_create(client_id=txn["client_id"], client_code=txn["client_code"], name="test")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return api


def test_merchant_lifecycle_and_scoping(paid_txn, core_rows):
    txn = paid_txn(500.0)
    api = client_for(txn)
    created = api.post("/api/v1/refunds/", {"client_txn_id": txn["client_txn_id"], "amount": "120.00",
                                            "reason": "damaged"}, format="json")  # fmt: skip
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["state"] == "PENDING_APPROVAL" and body["amount"] == "120.00" and body["txn_id"] == txn["txn_id"]
    refused = api.post("/api/v1/refunds/", {"txn_id": txn["txn_id"], "amount": "400.00"}, format="json")
    assert refused.status_code == 400 and refused.json()["rule"] == "amount_exceeds_balance"
    listed = api.get("/api/v1/refunds/").json()
    assert [r["id"] for r in listed["results"]] == [body["id"]]
    assert api.get(f"/api/v1/refunds/{body['id']}/").json()["reason"] == "damaged"

    # Another merchant sees nothing of it and cannot cancel it.
    other_merchant = core_rows.merchant()
    other = client_for({"client_id": other_merchant["client_id"], "client_code": other_merchant["client_code"]})
    assert other.get("/api/v1/refunds/").json()["results"] == []
    assert other.get(f"/api/v1/refunds/{body['id']}/").status_code == 404
    assert other.post(f"/api/v1/refunds/{body['id']}/cancel/").status_code == 404
    assert other.post("/api/v1/refunds/", {"txn_id": txn["txn_id"], "amount": "1"}, format="json").json()["rule"] == "txn_not_found"

    cancelled = api.post(f"/api/v1/refunds/{body['id']}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "CANCELLED"
    again = api.post(f"/api/v1/refunds/{body['id']}/cancel/")
    assert again.status_code == 409 and "CANCELLED" in again.json()["detail"]
    assert RefundRequest.objects.get(reference=body["id"]).workflow.last().actor_label == f"merchant:{txn['client_code']}"


def test_bad_input_is_answered_clearly(paid_txn):
    api = client_for(paid_txn())
    assert "give txn_id or client_txn_id" in str(api.post("/api/v1/refunds/", {"amount": "1"}, format="json").json())
    assert "amount" in api.post("/api/v1/refunds/", {"txn_id": "x", "amount": "1.234"}, format="json").json()
    assert APIClient().get("/api/v1/refunds/").status_code in (401, 403)
