"""Reads: configurations in force, tier volumes, queues and histories."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.cache import cache
from django.db import connection
from django.db.models import Q, QuerySet

from core_legacy.fields import core_tz
from core_legacy.sql import core_table

from .calculator import Rule, bands_from_json, tiers_from_json
from .models import ConfigStatus, FeeCalculationLog, FeeConfiguration, PromotionalFee
from .pricing_sql import AMOUNT, FEE_BEARING


def rule_from_configuration(config: FeeConfiguration) -> Rule:
    return Rule(
        config_id=config.pk, version=config.version, client_id=config.client_id, fee_type=config.fee_type,
        structure=config.structure, percent=Decimal(config.percent), fixed=Decimal(config.fixed_amount),
        slabs=bands_from_json(config.slabs), tiers=tiers_from_json(config.tiers), min_fee=config.min_fee,
        max_fee=config.max_fee, gst_rate=Decimal(config.gst_rate),
    )  # fmt: skip


def configurations_in_force(*, client_id: int, payment_mode: str, at: dt.datetime) -> dict[str, FeeConfiguration]:
    """Per fee type: the merchant's approved version covering `at`, else the default one."""
    rows = FeeConfiguration.objects.filter(
        Q(client_id=client_id) | Q(client_id__isnull=True),
        payment_mode=payment_mode, status=ConfigStatus.APPROVED, effective_from__lte=at,
    ).filter(Q(effective_until__isnull=True) | Q(effective_until__gt=at))
    chosen: dict[str, FeeConfiguration] = {}
    for config in rows:
        current = chosen.get(config.fee_type)
        if current is None or (current.client_id is None and config.client_id is not None):
            chosen[config.fee_type] = config
    return chosen


def _month_start(at: dt.datetime) -> dt.date:
    local = at.astimezone(core_tz())
    return dt.date(local.year, local.month, 1)


def previous_month_volume(*, client_id: int, at: dt.datetime) -> Decimal:
    """The merchant's fee-bearing volume in the India calendar month before `at` (tier basis).

    Cached for an hour: the month is closed, only late core updates could still move it.
    """
    this_month = _month_start(at)
    previous = (this_month - dt.timedelta(days=1)).replace(day=1)
    key = f"fees:volume:{client_id}:{previous:%Y%m}"
    cached = cache.get(key)
    if cached is not None:
        return Decimal(cached)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT coalesce(sum({AMOUNT}), 0) FROM {core_table('transaction_detail')} td "
            f"WHERE td.client_id = %s AND td.trans_date >= %s AND td.trans_date < %s AND {FEE_BEARING}",
            [client_id, dt.datetime.combine(previous, dt.time.min), dt.datetime.combine(this_month, dt.time.min)],
        )
        volume = Decimal(cursor.fetchone()[0]).quantize(Decimal("0.01"))
    cache.set(key, str(volume), 3600)
    return volume


def configuration_history(*, client_id: int | None, payment_mode: str | None = None) -> QuerySet[FeeConfiguration]:
    qs = FeeConfiguration.objects.filter(client_id=client_id) if client_id is not None else FeeConfiguration.objects.filter(client_id__isnull=True)
    if payment_mode:
        qs = qs.filter(payment_mode=payment_mode)
    return qs.order_by("payment_mode", "fee_type", "-version")


def approval_queue() -> QuerySet[FeeConfiguration]:
    return FeeConfiguration.objects.filter(status=ConfigStatus.PENDING).order_by("created_at", "id")


def merchant_configurations(*, client_id: int, at: dt.datetime) -> list[FeeConfiguration]:
    """Approved versions in force now or later for the merchant, plus defaults for modes it lacks."""
    live = FeeConfiguration.objects.filter(status=ConfigStatus.APPROVED).filter(
        Q(effective_until__isnull=True) | Q(effective_until__gt=at)
    )
    own = list(live.filter(client_id=client_id).order_by("payment_mode", "fee_type", "effective_from"))
    covered = {(c.payment_mode, c.fee_type) for c in own}
    defaults = [c for c in live.filter(client_id__isnull=True).order_by("payment_mode", "fee_type", "effective_from")
                if (c.payment_mode, c.fee_type) not in covered]  # fmt: skip
    return own + defaults


def promotions_eligible(*, client_id: int, payment_mode: str, amount: Decimal, at: dt.datetime, code: str = ""):
    """Active promotions in their window for this merchant/mode/amount: automatic ones and
    (if given) the one with `code`. Usage limits are checked when consumed."""
    qs = PromotionalFee.objects.filter(active=True, valid_from__lte=at, valid_until__gt=at, min_amount__lte=amount)
    qs = qs.filter(Q(client_id__isnull=True) | Q(client_id=client_id))
    qs = qs.filter(Q(code="") | Q(code=code.upper())) if code else qs.filter(code="")
    return [p for p in qs.order_by("id") if not p.payment_modes or payment_mode in p.payment_modes]


def calculation_log_search(*, client_id: int | None = None, txn_id: str | None = None,
                           start: dt.datetime | None = None, end: dt.datetime | None = None) -> QuerySet:  # fmt: skip
    qs = FeeCalculationLog.objects.all()
    if client_id is not None:
        qs = qs.filter(client_id=client_id)
    if txn_id:
        qs = qs.filter(txn_id=txn_id)
    if start:
        qs = qs.filter(calculated_at__gte=start)
    if end:
        qs = qs.filter(calculated_at__lt=end)
    return qs



def pricing_features() -> tuple[bool, bool]:
    """(any approved platform fee, any approved volume-tier structure): lets the pricing SQL
    skip joins and the volume scan nobody needs."""
    approved = FeeConfiguration.objects.filter(status=ConfigStatus.APPROVED)
    return approved.filter(fee_type="platform").exists(), approved.filter(structure="volume_tier").exists()
