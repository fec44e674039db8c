"""The calculation service: one fee (with promotion and log row) or a bulk period (set-based).

Promotion rule: at most one promotion per calculation, the one giving the merchant the
largest discount (ties: the older promotion). Candidates are the automatic promotions
eligible for the merchant, mode, amount and time, plus the promotion whose code was
quoted. A quoted code that does not exist or is not eligible is an error (the merchant
asked for it); an automatic one at its usage limit is skipped for the next best.
Usage is consumed by charge calculations, not quotes, with conditional UPDATEs (a row
lock), so concurrent calculations never exceed a limit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from decimal import Decimal, InvalidOperation

from django.db import connection, connections, transaction
from django.utils import timezone

from core_legacy.conversions import quantize_paise
from core_legacy.fields import from_core_naive
from enhancements.regulatory.mdr import is_zero_mdr_mode, zero_mdr_rule

from .calculator import ComponentFee, FeeResult, PromotionTerms, combine, component_fee, discount_for, zero_component
from .models import PAYMENT_MODES, FeeCalculationLog, FeeType, PromotionalFee, PromotionalFeeUsage
from .pricing_sql import naive_bounds, priced_ctes, pricing_terms, transactions_sql, use_batch_memory
from .selectors import (
    configurations_in_force,
    previous_month_volume,
    pricing_features,
    promotions_eligible,
    rule_from_configuration,
)
from .validation import FeeValidationError

LOG_TABLE = FeeCalculationLog._meta.db_table


class FeeConfigurationMissing(LookupError):
    pass


class PromotionUnavailable(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class Calculation:
    log_id: int
    calculated_at: dt.datetime
    client_id: int
    payment_mode: str
    transaction_at: dt.datetime
    monthly_volume: Decimal | None
    result: FeeResult
    breakdown: dict


def _parse_amount(amount) -> Decimal:
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        raise FeeValidationError({"amount": f"not a number: {amount!r}"}) from None
    if not value.is_finite() or value <= 0:
        raise FeeValidationError({"amount": "must be above 0"})
    if value != quantize_paise(value):
        raise FeeValidationError({"amount": "at most 2 decimal places (paise)"})
    if value >= Decimal("1e12"):
        raise FeeValidationError({"amount": "too large"})
    return value


def _terms(p: PromotionalFee) -> PromotionTerms:
    return PromotionTerms(p.pk, p.discount_type, Decimal(p.discount_value), p.max_discount)


class _LimitReached(Exception):
    pass


def _consume(promotion: PromotionalFee, client_id: int) -> bool:
    """Take one use of the promotion for the merchant, or False if a limit is reached."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:  # savepoint: all or nothing
            cursor.execute(
                f"UPDATE {PromotionalFee._meta.db_table} SET used_count = used_count + 1 WHERE id = %s AND active "
                "AND (usage_limit_total IS NULL OR used_count < usage_limit_total) RETURNING id",
                [promotion.pk],
            )
            if cursor.fetchone() is None:
                raise _LimitReached
            usage = PromotionalFeeUsage._meta.db_table
            cursor.execute(
                f"INSERT INTO {usage} (promotion_id, client_id, used_count) VALUES (%s, %s, 1) "
                f"ON CONFLICT (promotion_id, client_id) DO UPDATE SET used_count = {usage}.used_count + 1 "
                f"WHERE %s::int IS NULL OR {usage}.used_count < %s::int RETURNING used_count",
                [promotion.pk, client_id, promotion.usage_limit_per_merchant, promotion.usage_limit_per_merchant],
            )
            if cursor.fetchone() is None:
                raise _LimitReached
    except _LimitReached:
        return False
    return True


def _has_room(promotion: PromotionalFee, client_id: int) -> bool:
    if promotion.usage_limit_total is not None and promotion.used_count >= promotion.usage_limit_total:
        return False
    if promotion.usage_limit_per_merchant is None:
        return True
    used = PromotionalFeeUsage.objects.filter(promotion=promotion, client_id=client_id).values_list("used_count", flat=True).first()
    return (used or 0) < promotion.usage_limit_per_merchant


def _choose_promotion(*, client_id: int, payment_mode: str, amount: Decimal, at: dt.datetime, code: str, gross: Decimal,
                      quote: bool) -> PromotionalFee | None:  # fmt: skip
    candidates = promotions_eligible(client_id=client_id, payment_mode=payment_mode, amount=amount, at=at, code=code)
    quoted = None
    if code:
        quoted = next((p for p in candidates if p.code == code.upper()), None)
        if quoted is None:
            raise PromotionUnavailable(_why_not(code=code.upper(), client_id=client_id, payment_mode=payment_mode,
                                                amount=amount, at=at))  # fmt: skip
    ranked = sorted(candidates, key=lambda p: (-discount_for(_terms(p), gross), p.pk))
    for promotion in ranked:
        if discount_for(_terms(promotion), gross) <= 0:
            break
        if _has_room(promotion, client_id) if quote else _consume(promotion, client_id):
            return promotion
        if promotion is quoted:
            raise PromotionUnavailable(f"promotion code {quoted.code} has reached its usage limit")
    return None


def _why_not(*, code: str, client_id: int, payment_mode: str, amount: Decimal, at: dt.datetime) -> str:
    p = PromotionalFee.objects.filter(code=code).first()
    if p is None:
        return f"unknown promotion code {code}"
    if not p.active:
        return f"promotion code {code} is no longer active"
    if not (p.valid_from <= at < p.valid_until):
        return f"promotion code {code} is valid from {p.valid_from.isoformat()} until {p.valid_until.isoformat()}"
    if p.client_id is not None and p.client_id != client_id:
        return f"promotion code {code} is not available to this merchant"
    if p.payment_modes and payment_mode not in p.payment_modes:
        return f"promotion code {code} applies only to {', '.join(p.payment_modes)}"
    return f"promotion code {code} needs an amount of at least {p.min_amount}"


def _component_json(c: ComponentFee, gst: Decimal, payment_mode: str) -> dict:
    rule = c.rule
    scope = "statutory_zero" if rule is None and c.fee_type == FeeType.MDR and is_zero_mdr_mode(payment_mode) else (
        "none" if rule is None else ("merchant" if rule.client_id is not None else "default"))  # fmt: skip
    data = {"fee_type": c.fee_type, "scope": scope, "config_id": rule.config_id if rule else None,
            "version": rule.version if rule else None, "structure": rule.structure if rule else None, "band": c.band,
            "percent": str(c.percent), "fixed": str(c.fixed), "raw": str(c.raw), "capped_by": c.capped_by,
            "fee": str(c.fee), "gst_rate": str(rule.gst_rate) if rule else "0", "gst": str(gst)}  # fmt: skip
    if scope == "statutory_zero":
        data["source"] = zero_mdr_rule(payment_mode).source
    return data


@transaction.atomic
def fee_calculate(
    *,
    client_id: int,
    client_code: str,
    payment_mode: str,
    amount,
    at: dt.datetime | None = None,
    txn_id: str | None = None,
    promo_code: str = "",
    quote: bool = False,
    source: str = "service",
) -> Calculation:
    """Fee, GST, total and net settlement for one payment, logged in fee_calculation_log."""
    value = _parse_amount(amount)
    if payment_mode not in PAYMENT_MODES:
        raise FeeValidationError({"payment_mode": f"unknown payment mode {payment_mode!r}; one of {', '.join(PAYMENT_MODES)}"})
    now = timezone.now()
    at = at or now
    if timezone.is_naive(at):
        raise FeeValidationError({"at": "an aware date-time (with offset) is required"})
    configs = configurations_in_force(client_id=client_id, payment_mode=payment_mode, at=at)
    rules = {fee_type: rule_from_configuration(c) for fee_type, c in configs.items()}
    volume = None
    if any(r.structure == "volume_tier" for r in rules.values()):
        volume = previous_month_volume(client_id=client_id, at=at)
    if FeeType.MDR in rules:
        mdr = component_fee(rules[FeeType.MDR], amount=value, monthly_volume=volume)
    elif is_zero_mdr_mode(payment_mode):
        mdr = zero_component(FeeType.MDR)
    else:
        raise FeeConfigurationMissing(
            f"no MDR configuration for {payment_mode} covers {at.isoformat()} (neither the merchant's nor the default)"
        )
    platform = (component_fee(rules[FeeType.PLATFORM], amount=value, monthly_volume=volume)
                if FeeType.PLATFORM in rules else zero_component(FeeType.PLATFORM))  # fmt: skip
    components = (mdr, platform)
    promotion = _choose_promotion(client_id=client_id, payment_mode=payment_mode, amount=value, at=at,
                                  code=(promo_code or "").strip(), gross=mdr.fee + platform.fee, quote=quote)  # fmt: skip
    result = combine(value, components, _terms(promotion) if promotion else None)
    breakdown = {
        "components": [_component_json(c, g, payment_mode) for c, g in zip(components, result.gst_by_component, strict=True)],
        "promotion": None if promotion is None else {"id": promotion.pk, "name": promotion.name, "code": promotion.code,
                                                     "discount": str(result.discount), "quote": quote},
        "monthly_volume": None if volume is None else str(volume),
    }  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {LOG_TABLE} (calculated_at, source, is_quote, client_id, client_code, payment_mode, amount,
                transaction_at, txn_id, monthly_volume, mdr_config_id, mdr_fee, mdr_band, platform_config_id,
                platform_fee, platform_band, promotion_id, discount, fee, gst, total, net_amount, breakdown)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)
                RETURNING id""",
            [now, source, quote, client_id, client_code, payment_mode, value, at, txn_id, volume,
             mdr.rule.config_id if mdr.rule else None, mdr.fee, mdr.band,
             platform.rule.config_id if platform.rule else None, platform.fee, platform.band,
             result.promotion_id, result.discount, result.fee, result.gst, result.total, result.net_amount,
             json.dumps(breakdown)],
        )  # fmt: skip
        log_id = cursor.fetchone()[0]
    return Calculation(log_id, now, client_id, payment_mode, at, volume, result, breakdown)


_LOG_COLUMNS = ("calculated_at, source, is_quote, client_id, client_code, payment_mode, amount, transaction_at, txn_id, "
                "monthly_volume, mdr_config_id, mdr_fee, mdr_band, platform_config_id, platform_fee, platform_band, "
                "promotion_id, discount, fee, gst, total, net_amount")
# One log row per priced transaction. `source` is NULL for a row no configuration covers:
# it is counted, never logged (the writer filters it out). Casts give the exact column types,
# so the binary COPY stream needs no conversion. A transaction already logged by an earlier
# bulk run is skipped (idempotent per txn_id): the anti-join uses the log's txn_id index and
# only partitions from the period start on (a bulk calculation is made after the payment).
_LOG_SELECT = """
    SELECT %(now)s::timestamptz, CASE WHEN p.priced THEN 'bulk' END::varchar AS source, false, p.client_id,
        coalesce(p.client_code, '')::varchar, p.payment_mode::varchar, p.amount::numeric(14, 2),
        p.trans_date AT TIME ZONE %(tz)s, p.txn_id::text, p.monthly_volume::numeric(16, 2), p.mdr_config_id::bigint,
        p.mdr_fee::numeric(14, 2), p.mdr_band::int, p.platform_config_id::bigint, p.platform_fee::numeric(14, 2),
        p.platform_band::int, NULL::bigint, 0::numeric(14, 2), p.fee::numeric(14, 2), p.gst::numeric(14, 2),
        p.total::numeric(14, 2), p.net_amount::numeric(14, 2)
    FROM ({priced}) p
    WHERE NOT EXISTS (SELECT 1 FROM {log} l WHERE l.txn_id = p.txn_id::text AND l.source = 'bulk'
                      AND l.calculated_at >= %(logged_since)s)"""


def _chunk_sql(*, start, end, client_ids, with_platform: bool, with_tiers: bool, terms: dict,
               now: dt.datetime) -> tuple[str, dict]:
    ctes, priced, params = priced_ctes(txn_sql=transactions_sql(client_ids=client_ids is not None),
                                       with_platform=with_platform, with_tiers=with_tiers, terms=terms)  # fmt: skip
    params.update(naive_bounds(start, end))
    since = from_core_naive(params["start_naive"]) - dt.timedelta(days=1)  # a day of slack for clock skew
    params.update(client_ids=client_ids, now=now, logged_since=since)
    return ctes + _LOG_SELECT.format(log=LOG_TABLE, priced=priced), params


def _lock_days(cursor, start, end) -> None:
    """Serialise bulk runs over the same India calendar days (transaction-level advisory
    locks, taken in day order so overlapping runs cannot deadlock): a second run waits,
    then sees the first one's rows and skips them."""
    bounds = naive_bounds(start, end)
    first = bounds["start_naive"].date()
    last = (bounds["end_naive"] - dt.timedelta(microseconds=1)).date()
    epoch = dt.date(2000, 1, 1)
    cursor.execute(
        "SELECT count(pg_advisory_xact_lock(hashtext('fees.bulk_calculate'), d)) "
        "FROM (SELECT d FROM generate_series(%s::int, %s::int) AS d ORDER BY d) days",
        [(first - epoch).days, (last - epoch).days],
    )


def _ensure_log_partition(now: dt.datetime) -> None:
    """The month partition `now` falls in, created if missing (before any chunk runs), so
    bulk rows never land in the default partition. Rows are written through the parent
    (its identity column supplies the ids; COPY buffers rows per partition anyway)."""
    from enhancements.platform.partitions import ensure_monthly_partitions

    month = now.astimezone(dt.UTC).date()
    ensure_monthly_partitions(LOG_TABLE, start=month, months=1)


def _bulk_chunk(*, start, end, client_ids, with_platform: bool, with_tiers: bool, terms: dict,
                now: dt.datetime) -> tuple[int, int]:
    """One chunk in the caller's connection and transaction: INSERT ... SELECT."""
    sql, params = _chunk_sql(start=start, end=end, client_ids=client_ids, with_platform=with_platform,
                             with_tiers=with_tiers, terms=terms, now=now)  # fmt: skip
    with transaction.atomic(), connection.cursor() as cursor:
        use_batch_memory(cursor)
        _lock_days(cursor, start, end)
        cursor.execute(
            f"""WITH rows AS MATERIALIZED ({sql}),
            logged AS (INSERT INTO {LOG_TABLE} ({_LOG_COLUMNS}) SELECT * FROM rows WHERE source IS NOT NULL RETURNING 1)
            SELECT (SELECT count(*) FROM logged), (SELECT count(*) FROM rows WHERE source IS NULL)""",
            params,
        )
        return cursor.fetchone()


def _bulk_chunk_streamed(*, start, end, client_ids, with_platform: bool, with_tiers: bool, terms: dict,
                         now: dt.datetime) -> tuple[int, int]:
    """One chunk on this thread's own connections: the priced rows are read with a read-only
    `COPY (SELECT ...) TO STDOUT (FORMAT binary)` on a second connection and the bytes are
    relayed unparsed into `COPY fee_calculation_log FROM STDIN (FORMAT binary) WHERE source IS NOT NULL`
    (batched multi-row inserts instead of INSERT ... SELECT's row-at-a-time path).
    Counts: rows streamed - rows written = rows no configuration covers."""
    import psycopg

    sql, params = _chunk_sql(start=start, end=end, client_ids=client_ids, with_platform=with_platform,
                             with_tiers=with_tiers, terms=terms, now=now)  # fmt: skip
    reader = connection.get_new_connection(connection.get_connection_params())
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            _lock_days(cursor, start, end)  # before the reader's snapshot: it then sees earlier runs' rows
            with reader.cursor() as rc:
                rc.execute("SET work_mem = '64MB'")
                # The chunks already run concurrently, one connection pair each: parallel
                # workers inside each chunk would only oversubscribe the cores.
                rc.execute("SET max_parallel_workers_per_gather = 0")
            query = psycopg.ClientCursor(reader).mogrify(sql, params)
            writer = connection.connection
            with writer.cursor() as wc, reader.cursor() as rc:
                with wc.copy(f"COPY {LOG_TABLE} ({_LOG_COLUMNS}) FROM STDIN (FORMAT binary) WHERE source IS NOT NULL") as out:
                    with rc.copy(f"COPY ({query}) TO STDOUT (FORMAT binary)") as src:
                        for block in src:
                            out.write(block)
                    streamed = rc.rowcount
                logged = wc.rowcount
            reader.commit()
        return logged, streamed - logged
    finally:
        reader.close()


def _chunk_in_own_connection(**kwargs) -> tuple[int, int]:
    try:
        return _bulk_chunk_streamed(**kwargs)
    finally:
        connections.close_all()  # this worker thread's connections only


def fee_bulk_calculate(
    *, start: dt.date | dt.datetime, end: dt.date | dt.datetime, client_ids: list[int] | None = None,
    chunk_days: int = 7, workers: int = 1, progress: Callable[[str], None] | None = None,
) -> dict:  # fmt: skip
    """Price every fee-bearing core transaction in [start, end) as the configuration says and
    log each calculation (source 'bulk'), set-based in SQL, one chunk of days per transaction.
    `workers` > 1 runs chunks concurrently, each on its own connections (committed chunks
    stay if a later one fails). Idempotent per txn_id: a transaction already logged by a
    bulk run is skipped, so rerunning a period logs only what is new (e.g. payments that
    became successful since).
    Returns counts: logged, unpriced (no configuration covers them)."""
    if isinstance(start, dt.datetime) != isinstance(end, dt.datetime) or end <= start:
        raise FeeValidationError({"end": "must be after start (both dates or both date-times)"})
    if chunk_days < 1 or workers < 1:
        raise FeeValidationError({"workers": "chunk_days and workers must be >= 1"})
    with_platform, with_tiers = pricing_features()
    chunks, cursor_at = [], start
    while cursor_at < end:
        chunks.append((cursor_at, min(cursor_at + dt.timedelta(days=chunk_days), end)))
        cursor_at = chunks[-1][1]
    logged = unpriced = 0

    def account(chunk_end, counts) -> None:
        nonlocal logged, unpriced
        logged += counts[0]
        unpriced += counts[1]
        if progress:
            progress(f"priced and logged {logged:,} transactions (chunk up to {chunk_end}; {unpriced:,} without configuration)")

    now = timezone.now()  # calculated_at of the whole run
    _ensure_log_partition(now)
    with connection.cursor() as cursor:  # the configuration over the whole period, read once for every chunk
        terms = pricing_terms(cursor, proposal=None, **naive_bounds(start, end))
    common = {"client_ids": client_ids, "with_platform": with_platform, "with_tiers": with_tiers, "terms": terms,
              "now": now}
    if workers == 1:
        for chunk_start, chunk_end in chunks:
            account(chunk_end, _bulk_chunk(start=chunk_start, end=chunk_end, **common))
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(_chunk_in_own_connection, start=a, end=b, **common): b for a, b in chunks}
            for future in as_completed(futures):
                account(futures[future], future.result())
    return {"logged": logged, "unpriced": unpriced}
