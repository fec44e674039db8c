"""Merchant API: calculate, list configurations, preview a change on last month's rows."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from core_legacy.fields import core_tz
from enhancements.fees.models import FeeCalculationLog
from enhancements.fees.preview import last_month
from enhancements.platform.merchant_auth import merchant_api_key_create


@pytest.fixture
def merchant_client(db):
    _, key = merchant_api_key_create(client_id=6101, client_code="TC6101", name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.mark.django_db(databases=["default", "core"])
def test_calculate_returns_the_worked_example_and_logs_it_for_the_caller(merchant_client, approved):
    approved(client_id=6101, percent="2")
    response = merchant_client.post("/api/v1/fees/calculate/", {"payment_mode": "Credit Card", "amount": "10000.00",
                                                                "txn_id": "T-1"}, format="json")  # fmt: skip
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["fee"], body["gst"], body["total"], body["net_amount"]) == ("200.00", "36.00", "236.00", "9764.00")
    log = FeeCalculationLog.objects.get(id=body["calculation_id"])
    assert (log.client_id, log.source, log.txn_id) == (6101, "api", "T-1")


@pytest.mark.django_db(databases=["default", "core"])
def test_calculate_answers_bad_input_clearly(merchant_client, approved):
    approved(client_id=6101, percent="2")
    post = lambda data: merchant_client.post("/api/v1/fees/calculate/", data, format="json")  # noqa: E731
    assert post({"payment_mode": "Cash", "amount": "1"}).status_code == 400
    r = post({"payment_mode": "Credit Card", "amount": "10.001"})
    assert r.status_code == 400 and "amount" in r.json()
    r = post({"payment_mode": "Net Banking", "amount": "10"})
    assert r.status_code == 422 and "no MDR configuration" in r.json()["detail"]
    r = post({"payment_mode": "Credit Card", "amount": "10", "promo_code": "NOPE"})
    assert r.status_code == 409 and "unknown promotion code" in r.json()["detail"]
    assert APIClient().post("/api/v1/fees/calculate/", {}, format="json").status_code in (401, 403)
    assert not FeeCalculationLog.objects.filter(client_id__in=[101, 6101]).exists()


@pytest.mark.django_db(databases=["default", "core"])
def test_configurations_list_is_scoped_to_the_merchant_with_defaults(merchant_client, approved):
    approved(client_id=6101, percent="1.5")
    approved(client_id=6102, percent="0.9")
    approved(client_id=None, payment_mode="Wallet", percent="1.8")
    approved(client_id=None, percent="2.5")  # default for Credit Card: the merchant's own wins
    rows = merchant_client.get("/api/v1/fees/configurations/").json()["results"]
    assert sorted((r["payment_mode"], r["scope"], r["percent"]) for r in rows) == [
        ("Credit Card", "merchant", "1.5000"), ("Wallet", "default", "1.8000")]


@pytest.mark.django_db(databases=["default", "core"])
def test_preview_prices_last_month_under_the_proposal(merchant_client, approved, core_rows):
    approved(client_id=6101, percent="2")
    start, _ = last_month(timezone.now().astimezone(core_tz()).date())
    when = dt.datetime.combine(start, dt.time(12))
    for amount in (10000.0, 5000.0):
        core_rows.transaction(client_id=6101, client_code="TC6101", paid_amount=amount, payment_mode="Credit Card", trans_date=when)
    core_rows.transaction(client_id=6102, client_code="TC6102", paid_amount=99999.0, payment_mode="Credit Card", trans_date=when)
    r = merchant_client.post("/api/v1/fees/preview/", {"payment_mode": "Credit Card", "structure": "percentage_fixed",
                                                       "percent": "1.5", "fixed_amount": "3"}, format="json")  # fmt: skip
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["period_start"] == start.isoformat()
    [mode] = body["modes"]
    assert (mode["transactions"], mode["current_fee"], mode["proposed_fee"]) == (2, "300.00", "231.00")
    assert (body["total"]["current_gst"], body["total"]["proposed_gst"], body["total"]["difference"]) == ("54.00", "41.58", "-81.42")
    refused = merchant_client.post("/api/v1/fees/preview/", {"payment_mode": "UPI", "structure": "percentage",
                                                             "percent": "0.3"}, format="json")  # fmt: skip
    assert refused.status_code == 400 and "zero MDR" in refused.json()["detail"]
    assert not FeeCalculationLog.objects.filter(client_id=6101).exists()  # a preview charges nobody
