"""The calculation-log admin finds a charged fee by txn id and by merchant within a period."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from enhancements.fees.calculation import fee_calculate

pytestmark = pytest.mark.django_db(databases=["default", "core"])


def test_log_admin_searches_by_txn_id_and_by_client_within_a_period(approved, client):
    approved(client_id=101, percent="2")
    fee_calculate(client_id=101, client_code="TC101", payment_mode="Credit Card", amount="10000.00", txn_id="ADM-1")
    fee_calculate(client_id=101, client_code="TC101", payment_mode="Credit Card", amount="50.00", txn_id="ADM-2")
    admin = get_user_model().objects.create_superuser(username="log-admin", password="x")
    client.force_login(admin)
    url = "/admin/fees/feecalculationlog/"
    by_txn = client.get(url, {"q": "ADM-1"})
    assert by_txn.status_code == 200
    assert b"ADM-1" in by_txn.content and b"ADM-2" not in by_txn.content
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)  # as the date filter sends it
    by_client = client.get(url, {"q": "101", "calculated_at__gte": today.isoformat(),
                                 "calculated_at__lt": (today + dt.timedelta(days=1)).isoformat()})  # fmt: skip
    assert by_client.status_code == 200
    assert b"ADM-1" in by_client.content and b"ADM-2" in by_client.content
    earlier = client.get(url, {"q": "101", "calculated_at__lt": (today - dt.timedelta(days=40)).isoformat()})
    assert earlier.status_code == 200 and b"ADM-1" not in earlier.content
