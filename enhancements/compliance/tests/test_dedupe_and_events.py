"""Alerts de-duplicate (scan after scan, event then scan) and change-feed events raise alerts."""

import datetime as dt

import pytest
from django.db import IntegrityError, transaction

from enhancements.compliance.models import Alert, AuditEntry
from enhancements.compliance.rules.realtime import CONSUMER, consume
from enhancements.compliance.rules.scan import scan_month
from enhancements.compliance.services import alert_resolve, alert_start_review
from enhancements.events import outbox
from enhancements.events.models import OutboxDelivery

from .conftest import OCT, alerts_for, ist, txn

pytestmark = pytest.mark.django_db(databases=["default", "core"])


def test_rescanning_refreshes_the_open_alert_instead_of_raising_another(core_rows):
    first = txn(core_rows, 201, "700000.00", ist(2), payment_mode="Challan")
    second = txn(core_rows, 201, "400000.00", ist(3), payment_mode="Challan")
    result = scan_month(month=OCT)
    assert result.created["CASH_MONTHLY"] == 1
    again = scan_month(month=OCT)
    assert again.created["CASH_MONTHLY"] == 0 and again.refreshed["CASH_MONTHLY"] == 0
    third = txn(core_rows, 201, "100000.00", ist(9), payment_mode="Challan")
    refreshed = scan_month(month=OCT)
    assert (refreshed.created["CASH_MONTHLY"], refreshed.refreshed["CASH_MONTHLY"]) == (0, 1)
    (alert,) = alerts_for("CASH_MONTHLY")
    assert alert.evidence["txn_ids"] == [first["txn_id"], second["txn_id"], third["txn_id"]]
    assert str(alert.observed_amount) == "1200000.00"
    assert AuditEntry.objects.filter(object_type="alert", object_id=alert.pk, action="raised").count() == 1


def test_a_closed_alert_is_not_raised_again_for_the_same_window(core_rows, operator):
    txn(core_rows, 202, "300000.00", ist(2))
    scan_month(month=OCT)
    (alert,) = alerts_for("HIGH_VALUE")
    alert_start_review(alert_id=alert.pk, actor=operator)
    alert_resolve(alert_id=alert.pk, actor=operator, resolution="FALSE_POSITIVE", reason="School fee, known payer")
    scan_month(month=OCT)
    assert [a.status for a in alerts_for("HIGH_VALUE")] == ["RESOLVED"]


def test_database_refuses_a_second_open_alert_for_the_same_key(core_rows):
    txn(core_rows, 203, "300000.00", ist(2))
    scan_month(month=OCT)
    (alert,) = alerts_for("HIGH_VALUE")
    clone = Alert(**{f.attname: getattr(alert, f.attname) for f in Alert._meta.concrete_fields if f.attname != "id"})
    with pytest.raises(IntegrityError), transaction.atomic():
        clone.save()


def _publish(event_type: str, txn_row: dict, *, key: str, amount: str | None = None):
    trans_date = txn_row["trans_date"].replace(tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))
    payload = {"txn_id": txn_row["txn_id"], "client_id": txn_row["client_id"], "client_code": txn_row["client_code"],
               "amount": amount or f"{txn_row['paid_amount']:.2f}", "status": "SUCCESS",
               "payment_mode": txn_row["payment_mode"], "trans_date": trans_date.isoformat()}  # fmt: skip
    outbox.publish(event_key=key, type=event_type, payload=payload, occurred_at=trans_date,
                   client_id=txn_row["client_id"], client_code=txn_row["client_code"], txn_id=txn_row["txn_id"])


def test_payment_event_raises_alerts_at_once_and_the_scan_reuses_them(core_rows):
    core_rows.merchant(client_id=204, client_disable_flag=True)
    row = txn(core_rows, 204, "600000.00", ist(3), payment_mode="International Card")
    small = txn(core_rows, 204, "100.00", ist(4))
    _publish("payment.succeeded", row, key="e1")
    _publish("payment.succeeded", small, key="e2")
    stats = consume()
    assert stats["processed"] == 2 and stats["failed"] == 0
    assert [a.entity_key for a in alerts_for("HIGH_VALUE")] == [row["txn_id"]]
    assert [a.entity_key for a in alerts_for("CROSS_BORDER")] == [row["txn_id"]]
    (flagged,) = alerts_for("MERCHANT_FLAGGED")
    assert flagged.window_key == "2026-10" and flagged.evidence["txn_ids"] == [row["txn_id"]]
    assert len(alerts_for("KYC_NOT_APPROVED")) == 1
    scan_month(month=OCT)  # same keys: evidence refreshed to cover both payments
    (flagged,) = alerts_for("MERCHANT_FLAGGED")
    assert sorted(flagged.evidence["txn_ids"]) == sorted([row["txn_id"], small["txn_id"]])
    assert Alert.objects.filter(client_id=204).count() == 4
    assert not OutboxDelivery.objects.filter(consumer=CONSUMER, state="pending").exists()


def test_refund_event_rescans_the_merchants_month(core_rows):
    from enhancements.compliance.models import Rule

    Rule.objects.filter(code="REFUND_RATIO").update(min_count=2)
    rows = [txn(core_rows, 205, "1000.00", ist(5, 10 + i), refund_amount=400.0 if i == 0 else None) for i in range(2)]
    _publish("refund.core_initiated", rows[0], key="r1")
    stats = consume()
    assert stats["rescans"] == 1
    assert [a.entity_key for a in alerts_for("REFUND_RATIO")] == ["205"]


def test_unreadable_event_is_parked_with_the_reason(core_rows):
    row = txn(core_rows, 206, "100.00", ist(3))
    _publish("payment.succeeded", row, key="bad", amount="12,34x")
    stats = consume()
    assert stats["failed"] == 1
    delivery = OutboxDelivery.objects.get(consumer=CONSUMER, event__event_key="bad")
    assert delivery.state == "failed" and "unreadable payload value" in delivery.last_error
