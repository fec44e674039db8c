"""Pure fee arithmetic (no database). The SQL in pricing_sql.py computes the same numbers
set-based; tests check the two agree.

Rounding rule (one place, stated once):
1. A component's raw fee is exact Decimal: amount x percent / 100 + fixed, where percent and
   fixed come from the configuration, its matching slab, or its volume tier.
2. Caps apply to the raw fee: max(raw, min_fee), then min(.., max_fee).
3. The capped fee is rounded to the paisa, half away from zero (quantize_paise, ROUND_HALF_UP).
4. A promotion's discount is rounded the same way, capped at max_discount and at the fee,
   and taken off the MDR component first, then the platform fee.
5. GST per component = round_half_up(component fee after discount x gst_rate / 100).
6. total = fee + GST; net settlement = amount - total.
Rs 10,000 at 2% -> fee 200.00, GST 36.00, total 236.00, net 9,764.00.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from core_legacy.conversions import quantize_paise

ZERO = Decimal("0.00")
HUNDRED = Decimal(100)


class FeeConfigurationError(ValueError):
    """A configuration that cannot price an amount (e.g. no slab covers it)."""


@dataclasses.dataclass(frozen=True)
class Band:
    lower: Decimal
    lower_inclusive: bool
    upper: Decimal | None
    upper_inclusive: bool
    percent: Decimal
    fixed: Decimal

    def contains(self, amount: Decimal) -> bool:
        above = amount >= self.lower if self.lower_inclusive else amount > self.lower
        if self.upper is None:
            return above
        below = amount <= self.upper if self.upper_inclusive else amount < self.upper
        return above and below


@dataclasses.dataclass(frozen=True)
class Tier:
    min_volume: Decimal
    percent: Decimal
    fixed: Decimal


@dataclasses.dataclass(frozen=True)
class Rule:
    """An immutable snapshot of one approved configuration version."""

    config_id: int | None
    version: int | None
    client_id: int | None
    fee_type: str
    structure: str
    percent: Decimal
    fixed: Decimal
    slabs: tuple[Band, ...]
    tiers: tuple[Tier, ...]
    min_fee: Decimal | None
    max_fee: Decimal | None
    gst_rate: Decimal


@dataclasses.dataclass(frozen=True)
class ComponentFee:
    fee_type: str
    rule: Rule | None
    band: int | None  # index of the slab or tier used
    percent: Decimal
    fixed: Decimal
    raw: Decimal
    capped_by: str | None  # "min_fee" / "max_fee"
    fee: Decimal


def bands_from_json(slabs: list[dict]) -> tuple[Band, ...]:
    return tuple(
        Band(
            lower=Decimal(str(s["lower"])), lower_inclusive=bool(s["lower_inclusive"]),
            upper=None if s.get("upper") in (None, "") else Decimal(str(s["upper"])),
            upper_inclusive=bool(s.get("upper_inclusive", False)),
            percent=Decimal(str(s.get("percent", "0"))), fixed=Decimal(str(s.get("fixed", "0"))),
        )
        for s in slabs
    )  # fmt: skip


def tiers_from_json(tiers: list[dict]) -> tuple[Tier, ...]:
    return tuple(
        Tier(Decimal(str(t["min_volume"])), Decimal(str(t.get("percent", "0"))), Decimal(str(t.get("fixed", "0"))))
        for t in tiers
    )


def component_fee(rule: Rule, *, amount: Decimal, monthly_volume: Decimal | None) -> ComponentFee:
    band = None
    percent, fixed = rule.percent, rule.fixed
    if rule.structure == "slab":
        band = next((i for i, b in enumerate(rule.slabs) if b.contains(amount)), None)
        if band is None:
            raise FeeConfigurationError(f"no slab of configuration {rule.config_id} covers amount {amount}")
        percent, fixed = rule.slabs[band].percent, rule.slabs[band].fixed
    elif rule.structure == "volume_tier":
        volume = monthly_volume or ZERO
        band = max((i for i, t in enumerate(rule.tiers) if volume >= t.min_volume), default=None)
        if band is None:
            raise FeeConfigurationError(f"no tier of configuration {rule.config_id} covers volume {volume}")
        percent, fixed = rule.tiers[band].percent, rule.tiers[band].fixed
    raw = amount * percent / HUNDRED + fixed
    capped, capped_by = raw, None
    if rule.min_fee is not None and capped < rule.min_fee:
        capped, capped_by = rule.min_fee, "min_fee"
    if rule.max_fee is not None and capped > rule.max_fee:
        capped, capped_by = rule.max_fee, "max_fee"
    return ComponentFee(rule.fee_type, rule, band, percent, fixed, raw, capped_by, quantize_paise(capped))


def zero_component(fee_type: str) -> ComponentFee:
    return ComponentFee(fee_type, None, None, ZERO, ZERO, ZERO, None, ZERO)


@dataclasses.dataclass(frozen=True)
class PromotionTerms:
    promotion_id: int
    discount_type: str  # percent / flat
    discount_value: Decimal
    max_discount: Decimal | None


def discount_for(terms: PromotionTerms, fee: Decimal) -> Decimal:
    if terms.discount_type == "percent":
        discount = quantize_paise(fee * terms.discount_value / HUNDRED)
    else:
        discount = quantize_paise(terms.discount_value)
    if terms.max_discount is not None:
        discount = min(discount, terms.max_discount)
    return min(discount, fee)


@dataclasses.dataclass(frozen=True)
class FeeResult:
    amount: Decimal
    components: tuple[ComponentFee, ...]  # mdr, platform
    promotion_id: int | None
    discount: Decimal
    fee: Decimal  # after discount
    gst: Decimal
    total: Decimal
    net_amount: Decimal
    gst_by_component: tuple[Decimal, ...]

    def component(self, fee_type: str) -> ComponentFee:
        return next(c for c in self.components if c.fee_type == fee_type)


def combine(amount: Decimal, components: tuple[ComponentFee, ...], promotion: PromotionTerms | None) -> FeeResult:
    gross = sum((c.fee for c in components), ZERO)
    discount = discount_for(promotion, gross) if promotion else ZERO
    remaining, gst_parts, net_fees = discount, [], []
    for c in components:  # discount comes off the MDR first, then the platform fee
        taken = min(remaining, c.fee)
        remaining -= taken
        net_fee = c.fee - taken
        net_fees.append(net_fee)
        rate = c.rule.gst_rate if c.rule else ZERO
        gst_parts.append(quantize_paise(net_fee * rate / HUNDRED))
    fee = sum(net_fees, ZERO)
    gst = sum(gst_parts, ZERO)
    total = fee + gst
    return FeeResult(
        amount=amount, components=components, promotion_id=promotion.promotion_id if promotion and discount else None,
        discount=discount, fee=fee, gst=gst, total=total, net_amount=amount - total, gst_by_component=tuple(gst_parts),
    )  # fmt: skip
