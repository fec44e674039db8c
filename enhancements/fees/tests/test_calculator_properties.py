"""Properties of the pure fee arithmetic over many amounts and terms (no database)."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from core_legacy.conversions import quantize_paise
from enhancements.fees.calculator import PromotionTerms, Rule, combine, component_fee, zero_component

amounts = st.decimals(min_value=D("0.01"), max_value=D("10000000"), places=2)
percents = st.decimals(min_value=D("0"), max_value=D("10"), places=4)
fixeds = st.decimals(min_value=D("0"), max_value=D("100"), places=2)


def rule(percent, fixed, min_fee=None, max_fee=None, gst="18.00"):
    return Rule(1, 1, 1, "mdr", "percentage_fixed", percent, fixed, (), (), min_fee, max_fee, D(gst))


@given(amounts, percents, fixeds)
def test_fee_is_the_half_up_rounded_exact_fee_and_everything_adds_up(amount, percent, fixed):
    c = component_fee(rule(percent, fixed), amount=amount, monthly_volume=None)
    assert c.fee == quantize_paise(amount * percent / 100 + fixed)
    r = combine(amount, (c, zero_component("platform")), None)
    assert r.gst == quantize_paise(r.fee * D("0.18"))
    assert r.total == r.fee + r.gst and r.net_amount == amount - r.total
    assert r.fee.as_tuple().exponent == -2 and r.gst.as_tuple().exponent == -2


@given(amounts, percents, fixeds, st.decimals(min_value=D("0"), max_value=D("50"), places=2),
       st.decimals(min_value=D("0"), max_value=D("500"), places=2))
def test_caps_bound_the_fee(amount, percent, fixed, low, spread):
    c = component_fee(rule(percent, fixed, low, low + spread), amount=amount, monthly_volume=None)
    assert low <= c.fee <= low + spread


@given(amounts, percents, st.sampled_from(["percent", "flat"]), st.decimals(min_value=D("0.01"), max_value=D("100"), places=2),
       st.one_of(st.none(), st.decimals(min_value=D("0"), max_value=D("50"), places=2)))
def test_a_discount_never_exceeds_its_cap_or_the_fee(amount, percent, kind, value, cap):
    c = component_fee(rule(percent, D("0")), amount=amount, monthly_volume=None)
    r = combine(amount, (c, zero_component("platform")), PromotionTerms(1, kind, value, cap))
    assert D("0") <= r.discount <= c.fee
    assert cap is None or r.discount <= cap
    assert r.fee == c.fee - r.discount
