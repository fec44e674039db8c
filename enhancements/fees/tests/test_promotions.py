"""Promotions: best single discount, codes, windows, minimum amount, caps, usage limits
(also under concurrent calculations)."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal as D

import pytest
from django.db import connections
from django.utils import timezone

from enhancements.fees.calculation import PromotionUnavailable, fee_calculate
from enhancements.fees.models import FeeCalculationLog, PromotionalFee, PromotionalFeeUsage
from enhancements.fees.services import promotion_create
from enhancements.fees.validation import FeeValidationError

UTC = dt.UTC


def promo(maker, **kw):
    args = dict(created_by=maker, name="promo", discount_type="percent", discount_value="50",
                valid_from=timezone.now() - dt.timedelta(days=1), valid_until=timezone.now() + dt.timedelta(days=1))  # fmt: skip
    args.update(kw)
    return promotion_create(**args)


def calc(amount="10000.00", client_id=101, mode="Credit Card", **kw):
    return fee_calculate(client_id=client_id, client_code=f"TC{client_id}", payment_mode=mode, amount=amount, **kw)


@pytest.mark.django_db(databases=["default", "core"])
def test_the_single_best_promotion_applies_and_gst_is_on_the_discounted_fee(operators, approved):
    maker, _ = operators
    approved(client_id=101, percent="2")  # fee 200.00 on 10,000
    promo(maker, name="half", discount_value="50", max_discount="80.00")  # 100 capped at 80
    flat = promo(maker, name="flat 90", discount_type="flat", discount_value="90.00")
    c = calc()
    r = c.result
    assert (r.promotion_id, r.discount, r.fee, r.gst, r.net_amount) == (flat.pk, D("90.00"), D("110.00"), D("19.80"), D("9870.20"))
    assert c.breakdown["promotion"]["name"] == "flat 90"


@pytest.mark.django_db(databases=["default", "core"])
def test_codes_windows_modes_and_minimum_amount(operators, approved):
    maker, _ = operators
    approved(client_id=101, percent="2")
    approved(client_id=101, payment_mode="Wallet", percent="2")
    promo(maker, name="code", code="diwali", discount_value="25", min_amount="5000.00", payment_modes=["Credit Card"])
    promo(maker, name="expired", code="OLD", valid_from=timezone.now() - dt.timedelta(days=9),
          valid_until=timezone.now() - dt.timedelta(days=1))  # fmt: skip
    assert calc().result.discount == D("0.00")  # a code promotion needs its code
    assert calc(promo_code="Diwali").result.discount == D("50.00")
    with pytest.raises(PromotionUnavailable, match="at least 5000.00"):
        calc(amount="4999.99", promo_code="DIWALI")
    with pytest.raises(PromotionUnavailable, match="applies only to Credit Card"):
        calc(mode="Wallet", promo_code="DIWALI")
    with pytest.raises(PromotionUnavailable, match="valid from"):
        calc(promo_code="OLD")
    with pytest.raises(PromotionUnavailable, match="unknown"):
        calc(promo_code="NOPE")


@pytest.mark.django_db(databases=["default", "core"])
def test_promotion_at_its_usage_limit_is_skipped_and_quotes_consume_nothing(operators, approved):
    maker, _ = operators
    approved(client_id=None, percent="2")
    p = promo(maker, usage_limit_total=3, usage_limit_per_merchant=2)
    assert calc(quote=True).result.discount == D("100.00")
    assert [calc(client_id=101).result.discount for _ in range(3)] == [D("100.00"), D("100.00"), D("0.00")]
    assert calc(client_id=102).result.discount == D("100.00")  # third and last use overall
    assert calc(client_id=103).result.discount == D("0.00")  # limit reached: full fee
    p.refresh_from_db()
    assert p.used_count == 3
    assert dict(PromotionalFeeUsage.objects.values_list("client_id", "used_count")) == {101: 2, 102: 1}
    coded = promo(maker, name="c", code="ONCE", usage_limit_total=1)
    calc(promo_code="ONCE", client_id=104)
    with pytest.raises(PromotionUnavailable, match="usage limit"):
        calc(promo_code="ONCE", client_id=105)
    assert PromotionalFee.objects.get(pk=coded.pk).used_count == 1


@pytest.mark.django_db(databases=["default", "core"])
def test_bad_promotions_are_refused(operators):
    maker, _ = operators
    with pytest.raises(FeeValidationError) as info:
        promo(maker, discount_value="150", usage_limit_total=0, payment_modes=["Cash"])
    assert set(info.value.errors) == {"discount_value", "usage_limit_total", "payment_modes"}
    promo(maker, code="X1")
    with pytest.raises(FeeValidationError, match="already used"):
        promo(maker, code="x1")


@pytest.mark.django_db(transaction=True, databases=["default", "core"])
def test_usage_limit_holds_under_concurrent_calculations(operators, approved):
    maker, _ = operators
    approved(client_id=None, percent="2")
    p = promo(maker, usage_limit_total=5)
    results, errors = [], []
    barrier = threading.Barrier(12)

    def worker(n):
        try:
            barrier.wait()
            results.append(calc(client_id=300 + n).result.discount)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results).count(D("100.00")) == 5 and len(results) == 12
    p.refresh_from_db()
    assert p.used_count == 5
    FeeCalculationLog.objects.filter(client_id__range=(300, 311)).delete()  # the unmanaged log is not flushed
