"""Each windowed rule fires on the data it should and not on data just below its threshold."""

import datetime as dt
from decimal import Decimal

import pytest

from enhancements.compliance.models import MerchantDailyVolume, Rule
from enhancements.compliance.rules.scan import scan_month
from enhancements.compliance.services import kyc_record_save

from .conftest import OCT, alerts_for, ist, txn

pytestmark = pytest.mark.django_db(databases=["default", "core"])


def keys(rule_code):
    return sorted(a.entity_key for a in alerts_for(rule_code))


def test_high_value_at_threshold_fires_and_a_paisa_below_does_not(core_rows):
    hit = txn(core_rows, 101, "200000.00", ist(3))
    txn(core_rows, 101, "199999.99", ist(4))
    txn(core_rows, 101, "250000.00", ist(5), status="FAILED", sabpaisa_resp_code="0300")  # money never received
    scan_month(month=OCT)
    (alert,) = alerts_for("HIGH_VALUE")
    assert alert.entity_key == hit["txn_id"] and alert.observed_amount == Decimal("200000.00")
    assert alert.evidence["txn_ids"] == [hit["txn_id"]] and alert.evidence["amounts"] == ["200000.00"]
    assert alert.threshold == "amount >= Rs 200000.00" and alert.severity == "MEDIUM"
    assert alert.window_start == dt.datetime(2026, 10, 3, 6, 30, tzinfo=dt.UTC)  # 12:00 IST


def test_cross_border_above_five_lakh_only_for_international_cards(core_rows):
    hit = txn(core_rows, 102, "500000.01", ist(3), payment_mode="International Card")
    txn(core_rows, 102, "500000.00", ist(3), payment_mode="International Card")
    txn(core_rows, 102, "900000.00", ist(3), payment_mode="Credit Card")
    scan_month(month=OCT)
    assert keys("CROSS_BORDER") == [hit["txn_id"]]


def test_cash_monthly_total_above_ten_lakh_per_merchant(core_rows):
    a = [txn(core_rows, 103, amt, ist(d), payment_mode="Challan") for d, amt in ((2, "600000.00"), (20, "400000.01"))]
    for d, amt in ((2, "600000.00"), (20, "400000.00")):  # exactly Rs 10 lakh: not above
        txn(core_rows, 104, amt, ist(d), payment_mode="Challan")
    txn(core_rows, 104, "50000.00", ist(21), payment_mode="UPI")  # not cash
    txn(core_rows, 103, "999999.00", ist(1, month=11), payment_mode="Challan")  # next month
    scan_month(month=OCT)
    (alert,) = alerts_for("CASH_MONTHLY")
    assert (alert.entity_key, alert.window_key, alert.observed_amount) == ("103", "2026-10", Decimal("1000000.01"))
    assert alert.evidence["txn_ids"] == [a[0]["txn_id"], a[1]["txn_id"]]
    assert alert.evidence["total_amount"] == "1000000.01"


def test_velocity_per_payer_counts_in_one_window_and_masks_the_payer(core_rows):
    for i in range(10):
        txn(core_rows, 105, "100.00", ist(6, 10, i * 5), vpa="ravi.kumar@okhdfcbank")
    for i in range(9):
        txn(core_rows, 105, "100.00", ist(7, 10, i * 5), vpa="sita.devi@okicici")
    scan_month(month=OCT)
    (alert,) = alerts_for("VELOCITY_PAYER")
    assert alert.observed_count == 10 and alert.window_key == "60m@2026-10-06T10:00"
    assert "ravi" not in alert.entity_key and "ravi.kumar" not in alert.entity_display
    assert alert.entity_display == "ra***@okhdfcbank" and alert.evidence["payer"] == "ra***@okhdfcbank"


def test_velocity_per_merchant_uses_the_configured_thresholds(core_rows):
    Rule.objects.filter(code="VELOCITY_MERCHANT").update(threshold_count=5, window_minutes=30)
    for i in range(4):
        txn(core_rows, 106, "10.00", ist(8, 9, i))
    txn(core_rows, 106, "10.00", dt.datetime(2026, 10, 8, 9, 29, 59))  # last second of the 09:00 window
    txn(core_rows, 106, "10.00", dt.datetime(2026, 10, 8, 9, 30, 0))  # next window
    for i in range(4):
        txn(core_rows, 107, "10.00", ist(8, 9, i))
    scan_month(month=OCT)
    (alert,) = alerts_for("VELOCITY_MERCHANT")
    assert (alert.entity_key, alert.window_key, alert.observed_count) == ("106", "30m@2026-10-08T09:00", 5)


def test_structuring_needs_three_payments_in_the_band_below_ten_lakh(core_rows):
    for hour, amt in ((9, "900000.00"), (11, "950000.00"), (15, "999999.99")):
        txn(core_rows, 108, amt, ist(9, hour), payee_email="a.b@example.com")
    for hour, amt in ((9, "899999.99"), (11, "950000.00"), (15, "990000.00")):  # one below the band
        txn(core_rows, 108, amt, ist(9, hour), payee_email="c.d@example.com")
    scan_month(month=OCT)
    (alert,) = alerts_for("STRUCTURING")
    assert alert.observed_count == 3 and alert.entity_display == "a.***@example.com"
    assert alert.severity == "HIGH"


def test_refund_ratio_above_ten_percent(core_rows):
    Rule.objects.filter(code="REFUND_RATIO").update(min_count=5)
    for i in range(5):
        txn(core_rows, 109, "1000.00", ist(10, 10 + i), refund_amount=501.0 if i == 0 else None)
        txn(core_rows, 110, "1000.00", ist(10, 10 + i), refund_amount=500.0 if i == 0 else None)  # exactly 10%
    for i in range(4):
        txn(core_rows, 111, "1000.00", ist(10, 10 + i), refund_amount=900.0 if i == 0 else None)  # too few payments
    scan_month(month=OCT)
    (alert,) = alerts_for("REFUND_RATIO")
    assert alert.entity_key == "109" and alert.evidence["ratio"] == "0.1002"


def test_chargeback_ratio(core_rows):
    Rule.objects.filter(code="CHARGEBACK_RATIO").update(min_count=10, threshold_ratio=Decimal("0.1"))
    for i in range(10):
        txn(core_rows, 112, "100.00", ist(11, 10, i), is_charge_back=i < 2)
        txn(core_rows, 113, "100.00", ist(11, 10, i), is_charge_back=i < 1)  # exactly 10%
    scan_month(month=OCT)
    (alert,) = alerts_for("CHARGEBACK_RATIO")
    assert alert.entity_key == "112" and alert.observed_count == 2 and len(alert.evidence["txn_ids"]) == 2


def test_unusual_hours_share_at_night(core_rows):
    Rule.objects.filter(code="UNUSUAL_HOURS").update(min_count=3)
    for hour in (1, 2, 4, 13, 14):  # 3 of 5 at night (60%)
        txn(core_rows, 114, "100.00", ist(12, hour))
    for hour in (1, 2, 13, 14, 15):  # 2 night payments: below min_count
        txn(core_rows, 115, "100.00", ist(12, hour))
    for hour in (1, 2, 4, 5, 13, 14, 15, 16, 17, 18, 19):  # 3 of 11 (27%): below ratio; 05:00 is not night
        txn(core_rows, 116, "100.00", ist(12, hour))
    scan_month(month=OCT)
    assert keys("UNUSUAL_HOURS") == ["114"]


def test_volume_spike_against_the_merchants_own_baseline(core_rows):
    # 7 active days of Rs 10,000 in the previous 30: average Rs 2,333.33/day; x5 = 11,666.67
    for cid, per_day in ((117, "10000.00"), (118, "30000.00")):
        MerchantDailyVolume.objects.bulk_create(
            MerchantDailyVolume(client_id=cid, day=dt.date(2026, 9, 20 + d), txn_count=1, amount=Decimal(per_day)) for d in range(7)
        )
    txn(core_rows, 117, "150000.00", ist(5))  # > 5 x 2,333.33 and above the Rs 1 lakh floor
    txn(core_rows, 118, "35000.00", ist(5))  # 5 x 7,000 = 35,000: not above
    txn(core_rows, 119, "500000.00", ist(5))  # no history: no baseline
    scan_month(month=OCT)
    (alert,) = alerts_for("VOLUME_SPIKE")
    assert (alert.entity_key, alert.window_key) == ("117", "day@2026-10-05")
    assert alert.evidence["baseline_daily_average"] == "2333.33"
    assert MerchantDailyVolume.objects.get(client_id=118, day=dt.date(2026, 10, 5)).amount == Decimal("35000.00")


def test_flagged_merchants_and_kyc_not_approved(core_rows, operator):
    core_rows.merchant(client_id=120, client_disable_flag=True)
    core_rows.merchant(client_id=121, is_whitelisted=False)
    core_rows.merchant(client_id=122)
    for cid in (120, 121, 122):
        txn(core_rows, cid, "100.00", ist(14))
    kyc_record_save(client_id=122, client_code="TC122", actor=operator, status="APPROVED", risk_level="LOW",
                    reviewed_on=dt.date(2026, 1, 1))
    scan_month(month=OCT)
    assert keys("MERCHANT_FLAGGED") == ["120", "121"]
    flagged = {a.entity_key: a.evidence for a in alerts_for("MERCHANT_FLAGGED")}
    assert flagged["120"]["client_disable_flag"] is True and flagged["121"]["is_whitelisted"] is False
    assert keys("KYC_NOT_APPROVED") == ["120", "121"]
    assert alerts_for("KYC_NOT_APPROVED")[0].evidence["kyc_status"] == "MISSING"


def test_disabled_rule_does_not_fire(core_rows):
    Rule.objects.filter(code="HIGH_VALUE").update(enabled=False)
    txn(core_rows, 123, "900000.00", ist(3))
    scan_month(month=OCT)
    assert alerts_for("HIGH_VALUE") == []
