"""The scan's shortcuts give the same alerts as the plain definitions: evidence cutoffs on busy
merchants, the payer identity's ASCII fast path, each way merchant windows are counted, the hits
pass's lookup arrays and the structuring band counted from the hits table."""

import datetime as dt
import json
from decimal import Decimal

import pytest

from enhancements.compliance.models import Alert, MerchantDailyVolume, Rule
from enhancements.compliance.rules import windows
from enhancements.compliance.rules.scan import scan_month
from enhancements.compliance.rules.windows import EVIDENCE_CAP, PART_MINUTES

from .conftest import OCT, alerts_for, ist, txn

pytestmark = pytest.mark.django_db(databases=["default", "core"])


def test_month_wide_evidence_is_the_largest_payments_when_a_merchant_spans_many_parts(core_rows):
    # One payment in each of 80 six-hour parts, plus a part holding the five largest of all: the
    # cutoff (50th largest of the parts' maxima) must keep every one of the merchant's top 50.
    assert 80 * PART_MINUTES < 31 * 1440
    rows = []
    for i in range(80):
        when = dt.datetime(2026, 10, 1) + dt.timedelta(minutes=i * PART_MINUTES + 7)
        rows.append(txn(core_rows, 201, f"{1000 + i * 10}.00", when, payment_mode="Challan" if i % 4 else "UPI"))
    for j in range(5):
        rows.append(txn(core_rows, 201, f"{300000 + j}.00", ist(30, 3, j), payment_mode="Challan"))
    rows.append(txn(core_rows, 201, "1790.00", ist(30, 3, 30)))  # ties with the 80th payment's amount
    scan_month(month=OCT)
    (kyc,) = alerts_for("KYC_NOT_APPROVED")
    expected = sorted(rows, key=lambda r: (-Decimal(str(r["paid_amount"])), r["txn_id"]))[:EVIDENCE_CAP]
    assert kyc.evidence["txn_ids"] == [r["txn_id"] for r in expected]
    assert kyc.evidence["amounts"][:2] == ["300004.00", "300003.00"] and kyc.observed_count == 86
    (cash,) = alerts_for("CASH_MONTHLY")  # cash payments in 61 parts: the cash cutoff applies too
    cash_rows = sorted((r for r in rows if r["payment_mode"] == "Challan"), key=lambda r: (-r["paid_amount"], r["txn_id"]))
    assert cash.observed_count == 65 and cash.evidence["txn_ids"] == [r["txn_id"] for r in cash_rows[:EVIDENCE_CAP]]


def test_payer_identity_lower_cases_non_ascii_and_ascii_alike(core_rows):
    for i, vpa in enumerate(["ÉLAN@okaxis", "élan@okaxis ", " Élan@OKAXIS"] * 3 + ["élan@okaxis"]):
        txn(core_rows, 202, "10.00", ist(6, 10, i), vpa=vpa)
    for i, vpa in enumerate(["Ravi.K@OkHdfc", "ravi.k@okhdfc"] * 5):
        txn(core_rows, 203, "10.00", ist(7, 10, i), vpa=vpa)
    scan_month(month=OCT)
    assert sorted(a.entity_display for a in alerts_for("VELOCITY_PAYER")) == ["ra***@okhdfc", "él***@okaxis"]
    assert {a.observed_count for a in alerts_for("VELOCITY_PAYER")} == {10}


def test_a_space_padded_placeholder_is_no_payer_however_long(core_rows):
    # The core pads some placeholders ('NA      '): trimmed, they are absent like 'NA', however
    # long the padding, and the identity falls through to the e-mail. Ten different payers: no
    # velocity alert for a payer "na".
    for i, pad in enumerate(["NA      ", "   na    ", "  NA    ", "na        ", "NA" + " " * 20] * 2):
        txn(core_rows, 206, "10.00", ist(9, 10, i), vpa=pad, payee_email=f"payer{i}@example.in")
    for i in range(10):  # one payer whose VPA is padded (and so usable, trimmed)
        txn(core_rows, 207, "10.00", ist(10, 10, i), vpa="  sita@okicici   ", payee_email=f"other{i}@example.in")
    scan_month(month=OCT)
    assert [(a.entity_display, a.observed_count) for a in alerts_for("VELOCITY_PAYER")] == [("si***@okicici", 10)]


@pytest.mark.parametrize("window", [30, 720, 100])  # inside a part / whole parts / neither
def test_merchant_windows_are_counted_the_same_whatever_the_window(core_rows, window):
    Rule.objects.filter(code="VELOCITY_MERCHANT").update(threshold_count=5, window_minutes=window)
    # Windows are fixed buckets of minutes since 1970 (India time): start on one's boundary.
    first = int((dt.datetime(2026, 10, 8) - dt.datetime(1970, 1, 1)).total_seconds() // 60) // window + 1
    start = dt.datetime(1970, 1, 1) + dt.timedelta(minutes=first * window)
    for i in range(5):
        txn(core_rows, 204, "10.00", start + dt.timedelta(minutes=i))
    txn(core_rows, 205, "10.00", start)  # another merchant, same window: 1 payment
    for i in range(4):
        txn(core_rows, 205, "10.00", start + dt.timedelta(minutes=window + i))  # next window: 4
    scan_month(month=OCT)
    (alert,) = alerts_for("VELOCITY_MERCHANT")
    assert (alert.entity_key, alert.observed_count) == ("204", 5)
    assert alert.window_key == f"{window}m@{start:%Y-%m-%dT%H:%M}"
    assert len(alert.evidence["txn_ids"]) == 5


def _alerts_as_rows() -> list[tuple]:
    return sorted((a.rule_code, a.entity_key, a.window_key, a.client_id, a.client_code, str(a.observed_amount),
                   a.observed_count, a.threshold, json.dumps(a.evidence, sort_keys=True)) for a in Alert.objects.all())


def test_hits_lookup_arrays_give_the_same_alerts_as_the_join_and_subquery_they_replace(core_rows, monkeypatch):
    # Merchants far apart in id (the lookup arrays span the gap), a spike day, month-wide rules
    # whose evidence needs the cutoffs (KYC for every merchant, cash for one), a structuring band
    # counted from the hits table and a payer window.
    MerchantDailyVolume.objects.bulk_create(
        MerchantDailyVolume(client_id=301, day=dt.date(2026, 9, 20 + d), txn_count=1, amount=Decimal("10000.00")) for d in range(7))
    spike = [txn(core_rows, 301, amount, ist(5, 10, i)) for i, amount in enumerate(["150000.00", "30.00", "20.00"])]
    for i in range(60):  # later parts of 301's month, so its cutoff leaves out the spike day's small payments
        txn(core_rows, 301, f"{1000 + i}.00", dt.datetime(2026, 10, 10) + dt.timedelta(minutes=i * PART_MINUTES))
    big = []
    for i in range(80):  # one payment in each of 80 parts (53 cash): the cutoffs keep only the top of them
        when = dt.datetime(2026, 10, 1) + dt.timedelta(minutes=i * PART_MINUTES + 11)
        big.append(txn(core_rows, 390, f"{30000 + i * 7}.00", when, payment_mode="Challan" if i % 3 else "UPI"))
    for i, amount in enumerate(["900000.00", "950000.00", "999999.99"]):
        txn(core_rows, 355, amount, ist(9, 9 + i), payee_email="band@example.com")
    for i in range(10):
        txn(core_rows, 356, "10.00", ist(14, 10, i), vpa="fast@okaxis")
    scan_month(month=OCT)
    with_arrays = _alerts_as_rows()
    assert {row[0] for row in with_arrays} >= {"VOLUME_SPIKE", "KYC_NOT_APPROVED", "CASH_MONTHLY", "STRUCTURING", "VELOCITY_PAYER"}
    (spike_alert,) = alerts_for("VOLUME_SPIKE")
    assert spike_alert.evidence["txn_ids"] == [r["txn_id"] for r in spike]  # every row of the day, largest first
    (kyc,) = alerts_for("KYC_NOT_APPROVED", entity_key="390")
    top = sorted(big, key=lambda r: (-r["paid_amount"], r["txn_id"]))[:EVIDENCE_CAP]
    assert kyc.evidence["txn_ids"] == [r["txn_id"] for r in top] and kyc.observed_count == 80
    (cash,) = alerts_for("CASH_MONTHLY")
    cash_top = sorted((r for r in big if r["payment_mode"] == "Challan"), key=lambda r: (-r["paid_amount"], r["txn_id"]))
    assert cash.observed_count == 53 and cash.evidence["txn_ids"] == [r["txn_id"] for r in cash_top[:EVIDENCE_CAP]]

    Alert.objects.all().delete()
    monkeypatch.setattr(windows, "LOOKUP_ARRAY_CAP", 0)  # ids "too far apart": join and subquery
    scan_month(month=OCT)
    assert _alerts_as_rows() == with_arrays


def test_structuring_band_is_counted_from_the_stage_when_high_value_does_not_cover_it(core_rows):
    Rule.objects.filter(code="HIGH_VALUE").update(threshold_amount=Decimal("950000.00"))  # above the band's floor
    for i, amount in enumerate(["900000.00", "910000.00", "920000.00"]):
        txn(core_rows, 357, amount, ist(9, 9 + i), payee_email="band@example.com")
    scan_month(month=OCT)
    (alert,) = alerts_for("STRUCTURING")
    assert alert.observed_count == 3 and alert.evidence["total_amount"] == "2730000.00"
