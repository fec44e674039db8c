"""Worked numbers for the calculation service: structures, boundaries, caps, GST, zero MDR,
default configuration, and the log row each calculation leaves."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from enhancements.fees.calculation import FeeConfigurationMissing, fee_calculate
from enhancements.fees.models import FeeCalculationLog
from enhancements.fees.services import fee_configuration_propose
from enhancements.fees.validation import FeeValidationError
from enhancements.regulatory.mdr import ZeroMdrViolation

pytestmark = pytest.mark.django_db(databases=["default", "core"])


def calc(amount, mode="Credit Card", client_id=101, **kw):
    return fee_calculate(client_id=client_id, client_code=f"TC{client_id}", payment_mode=mode, amount=amount, **kw).result


def fee_gst(amount, **kw):
    r = calc(amount, **kw)
    return r.fee, r.gst


def test_rs_10000_at_2_percent_is_200_fee_36_gst_net_9764_and_is_logged(approved):
    config = approved(client_id=101, percent="2")
    c = fee_calculate(client_id=101, client_code="TC101", payment_mode="Credit Card", amount="10000.00", txn_id="T1")
    r = c.result
    assert (r.fee, r.gst, r.total, r.net_amount) == (D("200.00"), D("36.00"), D("236.00"), D("9764.00"))
    log = FeeCalculationLog.objects.get(id=c.log_id)
    assert (log.amount, log.fee, log.gst, log.net_amount, log.mdr_config_id, log.txn_id) == (
        D("10000.00"), D("200.00"), D("36.00"), D("9764.00"), config.pk, "T1")
    assert log.breakdown["components"][0]["scope"] == "merchant"
    assert log.breakdown["components"][0]["version"] == 1


def test_flat_and_percentage_plus_fixed(approved):
    approved(client_id=101, structure="flat", fixed_amount="5.00")
    approved(client_id=102, structure="percentage_fixed", percent="1.5", fixed_amount="2.00")
    assert fee_gst("1000.00") == (D("5.00"), D("0.90"))
    # 999.99 x 1.5% = 14.99985, + 2 = 16.99985 -> 17.00; GST 3.06
    assert fee_gst("999.99", client_id=102) == (D("17.00"), D("3.06"))


def test_rounding_is_half_away_from_zero_on_fee_and_gst(approved):
    approved(client_id=101, percent="0.5")
    # 101.00 x 0.5% = 0.505 -> 0.51; GST 0.51 x 18% = 0.0918 -> 0.09
    assert fee_gst("101.00") == (D("0.51"), D("0.09"))
    # 2.50 x 0.5% = 0.0125 -> 0.01; GST 0.0018 -> 0.00
    assert fee_gst("2.50") == (D("0.01"), D("0.00"))


def test_slab_boundaries_follow_their_stated_inclusivity(approved):
    approved(client_id=101, structure="slab", slabs=[
        {"lower": "0", "lower_inclusive": True, "upper": "1000", "upper_inclusive": True, "percent": "1"},
        {"lower": "1000", "lower_inclusive": False, "upper": None, "percent": "0.5"},
    ])
    approved(client_id=102, structure="slab", slabs=[
        {"lower": "0", "lower_inclusive": True, "upper": "1000", "upper_inclusive": False, "fixed": "5"},
        {"lower": "1000", "lower_inclusive": True, "upper": None, "percent": "1"},
    ])  # fmt: skip
    assert fee_gst("1000.00") == (D("10.00"), D("1.80"))  # 1000 is in the first slab (inclusive)
    assert fee_gst("1000.01") == (D("5.00"), D("0.90"))  # 5.00005 -> 5.00
    assert fee_gst("999.99", client_id=102) == (D("5.00"), D("0.90"))
    assert fee_gst("1000.00", client_id=102) == (D("10.00"), D("1.80"))  # 1000 is in the second slab here


def test_slabs_with_gap_or_double_boundary_are_refused(operators):
    maker, _ = operators
    base = dict(created_by=maker, client_id=5, payment_mode="Credit Card", structure="slab",
                effective_from=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))  # fmt: skip
    with pytest.raises(FeeValidationError, match="opposite"):
        fee_configuration_propose(**base, slabs=[
            {"lower": "0", "lower_inclusive": True, "upper": "1000", "upper_inclusive": True, "percent": "1"},
            {"lower": "1000", "lower_inclusive": True, "upper": None, "percent": "0.5"}])  # fmt: skip
    with pytest.raises(FeeValidationError, match="no gaps"):
        fee_configuration_propose(**base, slabs=[
            {"lower": "0", "lower_inclusive": True, "upper": "1000", "upper_inclusive": True, "percent": "1"},
            {"lower": "2000", "lower_inclusive": False, "upper": None, "percent": "0.5"}])  # fmt: skip


def test_minimum_and_maximum_caps(approved):
    approved(client_id=101, percent="2", min_fee="10.00", max_fee="50.00")
    assert fee_gst("100.00") == (D("10.00"), D("1.80"))  # 2.00 raised to the minimum
    assert fee_gst("1000.00") == (D("20.00"), D("3.60"))
    assert fee_gst("10000.00") == (D("50.00"), D("9.00"))  # 200.00 cut to the maximum


def test_gst_rate_is_per_configuration_and_shown_separately(approved):
    approved(client_id=101, percent="2", gst_rate="0")
    r = calc("10000.00")
    assert (r.fee, r.gst, r.net_amount) == (D("200.00"), D("0.00"), D("9800.00"))


def test_default_configuration_applies_when_the_merchant_has_none(approved):
    approved(client_id=None, percent="1.9")
    own = approved(client_id=101, percent="1.5")
    assert fee_gst("1000.00", client_id=101) == (D("15.00"), D("2.70"))
    c = fee_calculate(client_id=999, client_code="TC999", payment_mode="Credit Card", amount="1000.00")
    assert (c.result.fee, c.breakdown["components"][0]["scope"]) == (D("19.00"), "default")
    assert c.result.component("mdr").rule.config_id != own.pk
    with pytest.raises(FeeConfigurationMissing, match="Net Banking"):
        calc("1000.00", mode="Net Banking")


def test_zero_mdr_modes_refuse_mdr_and_charge_nothing_without_configuration(operators, approved):
    maker, _ = operators
    for mode in ("UPI", "RuPay Debit Card"):
        with pytest.raises(ZeroMdrViolation, match="119AA") as info:
            fee_configuration_propose(created_by=maker, client_id=101, payment_mode=mode, structure="percentage",
                                      percent="0.3", effective_from=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))  # fmt: skip
        assert "platform" in str(info.value)
    # a capped "zero" is still a charge
    with pytest.raises(ZeroMdrViolation):
        fee_configuration_propose(created_by=maker, client_id=101, payment_mode="UPI", structure="percentage",
                                  percent="0", min_fee="1.00", effective_from=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))  # fmt: skip
    c = fee_calculate(client_id=101, client_code="TC101", payment_mode="UPI", amount="5000.00")
    assert (c.result.fee, c.result.gst, c.result.net_amount) == (D("0.00"), D("0.00"), D("5000.00"))
    assert c.breakdown["components"][0]["scope"] == "statutory_zero"
    assert "Notification No. 105/2019" in c.breakdown["components"][0]["source"]


def test_platform_fee_is_a_distinct_fee_type_allowed_on_upi(approved):
    approved(client_id=101, payment_mode="UPI", fee_type="platform", structure="flat", fixed_amount="1.00")
    r = calc("5000.00", mode="UPI")
    assert (r.component("mdr").fee, r.component("platform").fee, r.gst, r.total) == (D("0.00"), D("1.00"), D("0.18"), D("1.18"))


def test_mdr_and_platform_fee_add_up(approved):
    approved(client_id=101, percent="1.8")
    approved(client_id=101, fee_type="platform", structure="flat", fixed_amount="3.00")
    r = calc("1000.00")
    assert (r.fee, r.gst, r.total, r.net_amount) == (D("21.00"), D("3.78"), D("24.78"), D("975.22"))


def test_bad_input_is_refused_with_the_field_named(approved):
    approved(client_id=101, percent="2")
    for amount in ("0", "-5", "10.005", "abc"):
        with pytest.raises(FeeValidationError) as info:
            calc(amount)
        assert "amount" in info.value.errors
    with pytest.raises(FeeValidationError):
        calc("10.00", mode="Cheque")
    assert not FeeCalculationLog.objects.filter(client_id__in=[101, 6101]).exists()


@pytest.mark.django_db(databases=["default", "core"])
def test_volume_tier_uses_previous_month_volume(approved, core_rows):
    approved(client_id=4101, structure="volume_tier", tiers=[
        {"min_volume": "0", "percent": "2"}, {"min_volume": "100000", "percent": "1.5"}])  # fmt: skip
    approved(client_id=4102, structure="volume_tier", tiers=[
        {"min_volume": "0", "percent": "2"}, {"min_volume": "100000", "percent": "1.5"}])  # fmt: skip
    for _ in range(3):  # Rs 1.5 lakh of successful volume in October (India time)
        core_rows.transaction(client_id=4101, client_code="TC4101", paid_amount=50000.0, trans_date=dt.datetime(2026, 10, 10, 12))
    core_rows.transaction(client_id=4101, client_code="TC4101", paid_amount=900000.0, status="FAILED",
                          sabpaisa_resp_code="0300", trans_date=dt.datetime(2026, 10, 11, 12))  # fmt: skip
    core_rows.transaction(client_id=4102, client_code="TC4102", paid_amount=50000.0, trans_date=dt.datetime(2026, 10, 10, 12))
    at = dt.datetime(2026, 11, 5, 10, tzinfo=dt.UTC)
    big = fee_calculate(client_id=4101, client_code="TC4101", payment_mode="Credit Card", amount="1000.00", at=at)
    small = fee_calculate(client_id=4102, client_code="TC4102", payment_mode="Credit Card", amount="1000.00", at=at)
    assert (big.result.fee, big.monthly_volume, big.result.component("mdr").band) == (D("15.00"), D("150000.00"), 1)
    assert (small.result.fee, small.monthly_volume) == (D("20.00"), D("50000.00"))
