"""Set-based pricing: the fee every core transaction should carry, computed in one SQL
statement (bulk calculation, reconciliation and previews share it).

It implements exactly calculator.py's rules (caps, slabs, tiers, rounding half away from
zero: PostgreSQL's round(numeric, 2)); tests compare the two on the same inputs.
Promotions are not part of it: they are discretionary per calculation, while this is
"what the configuration says".

Configuration lookup per transaction and fee type: the merchant's approved version whose
[effective_from, effective_until) holds the transaction time, else the default version
(client_id NULL) for the mode. Both are equi-joins on (client_id, payment_mode) so
PostgreSQL hash-joins a million transactions against the configurations.
The configuration CTE `cfg` is NOT MATERIALIZED (re-read per reference: a few hundred
rows). The slab/tier CTEs `bands` and `tiers` ARE materialized: as inline subqueries the
planner hashed the (large) transaction side to probe them (four Hash Right Joins, ~40% of
the statement on 225k rows); as CTE scans it hashes the few band rows instead (Hash Left
Joins), 20-45% faster in alternating runs with identical results. The cost is that a CTE
scan is parallel-restricted, but this statement got no parallel plan anyway (its joins and
expressions sit above the OFFSET 0 fences; see docs/fees.md).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from core_legacy.sql import core_is_same_database, core_table
from enhancements.regulatory.mdr import ZERO_MDR_RULES

from .models import FeeConfiguration

# A transaction carries a fee when its status is success-like (SabPaisa codes 0000, 0600,
# 0700, 0800). As in core_legacy.conversions.normalise_status, a known code wins over the
# free-text word.
_CODE = "lpad(btrim(td.sabpaisa_resp_code), 4, '0')"
FEE_BEARING = f"""
    (CASE WHEN btrim(td.sabpaisa_resp_code) ~ '^[0-9]{{1,4}}$'
               AND {_CODE} IN ('0000','0100','0200','0300','0400','0600','0700','0800')
          THEN {_CODE} IN ('0000','0600','0700','0800')
          ELSE upper(regexp_replace(coalesce(td.status, ''), '[[:space:]_-]', '', 'g'))
               IN ('SUCCESS','SUCCESSFUL','SUCCESSFULL','PAID','SETTLED','REFUNDINITIATED','REFUNDED')
     END)"""

# What the core charged: fee = convcharges + ep_charges; GST = gst (the total the core
# stores) or, when that is NULL, conv_gst + endpoint_gst. float8 -> numeric to the paisa.
CHARGED_FEE = "round(coalesce(td.convcharges, 0)::numeric, 2) + round(coalesce(td.ep_charges, 0)::numeric, 2)"
CHARGED_GST = (
    "CASE WHEN td.gst IS NOT NULL THEN round(td.gst::numeric, 2) "
    "ELSE round(coalesce(td.conv_gst, 0)::numeric, 2) + round(coalesce(td.endpoint_gst, 0)::numeric, 2) END"
)
AMOUNT = "round(coalesce(td.paid_amount, td.act_amount)::numeric, 2)"


@dataclasses.dataclass(frozen=True)
class Proposal:
    """Terms of a configuration not (yet) in force, to price "what if" (preview)."""

    client_id: int | None
    payment_mode: str
    fee_type: str
    structure: str
    percent: object
    fixed_amount: object
    slabs: list
    tiers: list
    min_fee: object
    max_fee: object
    gst_rate: object

    @classmethod
    def from_configuration(cls, config: FeeConfiguration) -> Proposal:
        return cls(config.client_id, config.payment_mode, config.fee_type, config.structure, config.percent,
                   config.fixed_amount, config.slabs, config.tiers, config.min_fee, config.max_fee, config.gst_rate)  # fmt: skip


def transactions_sql(*, client_ids: bool) -> str:
    """Fee-bearing transactions in [%(start_naive)s, %(end_naive)s), optionally of %(client_ids)s."""
    if not core_is_same_database():
        # Joining core rows with fee_configuration needs both in one database (the default,
        # as in production). A split deployment would first stage the core rows here.
        raise ImproperlyConfigured("fee pricing SQL needs CORE_DATABASE_URL and DATABASE_URL to be the same database")
    td = core_table("transaction_detail")
    scope = "AND td.client_id = ANY(%(client_ids)s)" if client_ids else ""
    return f"""
        SELECT td.txn_id, td.trans_date, td.client_id, td.client_code, td.payment_mode, {AMOUNT} AS amount,
               {CHARGED_FEE} AS charged_fee, {CHARGED_GST} AS charged_gst
        FROM {td} td
        WHERE td.trans_date >= %(start_naive)s AND td.trans_date < %(end_naive)s
          AND td.client_id IS NOT NULL AND coalesce(td.paid_amount, td.act_amount) IS NOT NULL
          AND {FEE_BEARING} {scope}"""


def _component(alias: str, fee_type: str, *, with_slabs: bool, with_tiers: bool) -> tuple[str, str, str]:
    """(joins, terms columns, fee column) for one fee type: the merchant's version (alias+c)
    if one covers the transaction, else the default (alias+d)."""
    a = alias
    cid = f"coalesce({a}c.id, {a}d.id)"
    joins = f"""
        LEFT JOIN cfg {a}c ON {a}c.fee_type = '{fee_type}' AND {a}c.client_id = t.client_id
             AND {a}c.payment_mode = t.payment_mode AND t.trans_date >= {a}c.from_naive AND t.trans_date < {a}c.until_naive
        LEFT JOIN cfg {a}d ON {a}d.fee_type = '{fee_type}' AND {a}d.client_id IS NULL
             AND {a}d.payment_mode = t.payment_mode AND t.trans_date >= {a}d.from_naive AND t.trans_date < {a}d.until_naive"""  # fmt: skip
    if with_slabs:
        joins += f"""
        LEFT JOIN bands {a}b ON {a}b.config_id = {cid}
             AND (t.amount > {a}b.lower OR ({a}b.lower_inclusive AND t.amount = {a}b.lower))
             AND ({a}b.upper IS NULL OR t.amount < {a}b.upper OR ({a}b.upper_inclusive AND t.amount = {a}b.upper))"""  # fmt: skip
    if with_tiers:
        joins += f"""
        LEFT JOIN tiers {a}t ON {a}t.config_id = {cid} AND coalesce(t.monthly_volume, 0) >= {a}t.min_volume
             AND ({a}t.next_min IS NULL OR coalesce(t.monthly_volume, 0) < {a}t.next_min)"""  # fmt: skip

    def pick(column: str) -> str:
        return f"CASE WHEN {a}c.id IS NOT NULL THEN {a}c.{column} ELSE {a}d.{column} END"

    structure = pick("structure")
    band_cases = (f" WHEN 'slab' THEN {a}b.band" if with_slabs else "") + (f" WHEN 'volume_tier' THEN {a}t.band" if with_tiers else "")
    pct_cases = (f" WHEN 'slab' THEN {a}b.percent" if with_slabs else "") + (f" WHEN 'volume_tier' THEN {a}t.percent" if with_tiers else "")
    fix_cases = (f" WHEN 'slab' THEN {a}b.fixed" if with_slabs else "") + (f" WHEN 'volume_tier' THEN {a}t.fixed" if with_tiers else "")
    band = f"CASE {structure}{band_cases} END" if band_cases else "NULL::int"
    pct = f"CASE {structure}{pct_cases} ELSE {pick('percent')} END" if pct_cases else pick("percent")
    fixed = f"CASE {structure}{fix_cases} ELSE {pick('fixed_amount')} END" if fix_cases else pick("fixed_amount")
    terms = (f"{cid} AS {fee_type}_config_id, {band} AS {fee_type}_band, {pct} AS {fee_type}_pct, "
             f"{fixed} AS {fee_type}_fixed, {pick('min_fee')} AS {fee_type}_min, {pick('max_fee')} AS {fee_type}_max, "
             f"{pick('gst_rate')} AS {fee_type}_gst_rate")  # fmt: skip
    # raw = amount x pct / 100 + fixed (x 0.01 is the same exact value, cheaper than numeric
    # division). raw >= 0 (rates are validated >= 0), so a missing minimum is 0 and a missing
    # maximum +Infinity. NULL: a slab/tier that matched nothing (validation prevents it).
    f = fee_type
    fee = (f"CASE WHEN c.{f}_config_id IS NULL THEN 0::numeric WHEN c.{f}_pct IS NULL OR c.{f}_fixed IS NULL THEN NULL "
           f"ELSE round(LEAST(GREATEST(c.amount * c.{f}_pct * 0.01 + c.{f}_fixed, coalesce(c.{f}_min, 0)), "
           f"coalesce(c.{f}_max, 'Infinity'::numeric)), 2) END AS {f}_fee")  # fmt: skip
    return joins, terms, fee


def priced_ctes(*, txn_sql: str, with_platform: bool, with_tiers: bool, proposal: Proposal | None) -> tuple[str, dict]:
    """`WITH ... priced AS (...)` over txn_sql, and its extra params. `priced` has the txn
    columns plus mdr_/platform_ config_id, band, fee, and fee, gst, total, net_amount,
    monthly_volume and `priced` (false: no configuration covers a mode that needs one)."""
    table = FeeConfiguration._meta.db_table
    params: dict = {"tz": settings.CORE_TIME_ZONE, "zero_mdr_modes": list(ZERO_MDR_RULES), "client_ids": None}
    exclude, extra = "", ""
    if proposal is not None:
        exclude = ("AND NOT (c.client_id IS NOT DISTINCT FROM %(p_client)s AND c.payment_mode = %(p_mode)s "
                   "AND c.fee_type = %(p_fee_type)s)")  # fmt: skip
        extra = """UNION ALL SELECT -1, %(p_client)s, %(p_mode)s, %(p_fee_type)s, %(p_structure)s, %(p_percent)s::numeric,
                   %(p_fixed)s::numeric, %(p_min)s::numeric, %(p_max)s::numeric, %(p_gst)s::numeric, %(p_slabs)s::jsonb,
                   %(p_tiers)s::jsonb, '-infinity'::timestamp, 'infinity'::timestamp"""
        params.update(p_client=proposal.client_id, p_mode=proposal.payment_mode, p_fee_type=proposal.fee_type,
                      p_structure=proposal.structure, p_percent=str(proposal.percent), p_fixed=str(proposal.fixed_amount),
                      p_min=None if proposal.min_fee is None else str(proposal.min_fee),
                      p_max=None if proposal.max_fee is None else str(proposal.max_fee), p_gst=str(proposal.gst_rate),
                      p_slabs=json.dumps(proposal.slabs or []), p_tiers=json.dumps(proposal.tiers or []))  # fmt: skip
    volume = "NULL::numeric AS monthly_volume"
    volume_cte = ""
    if with_tiers:
        td = core_table("transaction_detail")
        # Tier volume: the merchant's fee-bearing volume in the previous calendar month.
        volume_cte = f"""
        volumes AS (
            SELECT td.client_id, date_trunc('month', td.trans_date) AS month, sum({AMOUNT}) AS volume
            FROM {td} td
            WHERE td.trans_date >= date_trunc('month', %(start_naive)s::timestamp) - interval '1 month'
              AND td.trans_date < date_trunc('month', %(end_naive)s::timestamp - interval '1 microsecond')
              AND (%(client_ids)s::int[] IS NULL OR td.client_id = ANY(%(client_ids)s::int[]))
              -- a top-level EXISTS becomes a semi-join (an OR of subqueries would be a SubPlan,
              -- which keeps everything above it out of parallel workers)
              AND EXISTS (SELECT 1 FROM cfg WHERE cfg.structure = 'volume_tier'
                          AND (cfg.client_id IS NULL OR cfg.client_id = td.client_id))
              AND {FEE_BEARING}
            GROUP BY 1, 2),"""
        volume = "coalesce(v.volume, 0) AS monthly_volume"
    with_slabs = True  # cheap when there are none: the bands CTE is then empty
    mdr_joins, mdr_terms, mdr_fee = _component("m", "mdr", with_slabs=with_slabs, with_tiers=with_tiers)
    if with_platform:
        plat_joins, plat_terms, plat_fee = _component("p", "platform", with_slabs=with_slabs, with_tiers=with_tiers)
    else:
        plat_joins = ""
        plat_terms = "NULL::bigint AS platform_config_id, NULL::int AS platform_band, NULL::numeric AS platform_gst_rate"
        plat_fee = "0::numeric AS platform_fee"
    sql = f"""
    WITH cfg AS NOT MATERIALIZED (
        SELECT c.id, c.client_id, c.payment_mode, c.fee_type, c.structure, c.percent, c.fixed_amount, c.min_fee,
               c.max_fee, c.gst_rate, c.slabs, c.tiers,
               (c.effective_from AT TIME ZONE %(tz)s) AS from_naive,
               coalesce(c.effective_until AT TIME ZONE %(tz)s, 'infinity'::timestamp) AS until_naive
        FROM {table} c
        WHERE c.status = 'approved'
          AND (c.effective_from AT TIME ZONE %(tz)s) < %(end_naive)s
          AND (c.effective_until IS NULL OR (c.effective_until AT TIME ZONE %(tz)s) > %(start_naive)s) {exclude}
        {extra}
    ),
    bands AS MATERIALIZED (  -- see the module docstring
        SELECT c.id AS config_id, (e.ord - 1)::int AS band, (e.s->>'lower')::numeric AS lower,
               (e.s->>'lower_inclusive')::boolean AS lower_inclusive, (e.s->>'upper')::numeric AS upper,
               coalesce((e.s->>'upper_inclusive')::boolean, false) AS upper_inclusive,
               (e.s->>'percent')::numeric AS percent, (e.s->>'fixed')::numeric AS fixed
        FROM cfg c CROSS JOIN LATERAL jsonb_array_elements(c.slabs) WITH ORDINALITY AS e(s, ord)
        WHERE c.structure = 'slab'
    ),
    tiers AS MATERIALIZED (
        -- next_min by a lateral aggregate rather than lead(): a window function here would
        -- keep the joins above it out of parallel workers
        SELECT c.id AS config_id, (e.ord - 1)::int AS band, (e.s->>'min_volume')::numeric AS min_volume,
               nx.next_min, (e.s->>'percent')::numeric AS percent, (e.s->>'fixed')::numeric AS fixed
        FROM cfg c CROSS JOIN LATERAL jsonb_array_elements(c.tiers) WITH ORDINALITY AS e(s, ord)
        LEFT JOIN LATERAL (
            SELECT min((n.s->>'min_volume')::numeric) AS next_min FROM jsonb_array_elements(c.tiers) AS n(s)
            WHERE (n.s->>'min_volume')::numeric > (e.s->>'min_volume')::numeric
        ) nx ON true
        WHERE c.structure = 'volume_tier'
    ),
    txn0 AS ({txn_sql}),{volume_cte}
    txn AS (
        SELECT t0.*, {volume} FROM txn0 t0
        {"LEFT JOIN volumes v ON v.client_id = t0.client_id AND v.month = date_trunc('month', t0.trans_date) - interval '1 month'" if with_tiers else ""}
    ),
    components AS (
        SELECT t.*, {mdr_terms}, {plat_terms}
        FROM txn t {mdr_joins} {plat_joins}
        OFFSET 0  -- planner fences: each expression is evaluated once per row, not once per reference
    ),
    fees AS (
        SELECT c.*, {mdr_fee}, {plat_fee} FROM components c OFFSET 0
    ),
    priced AS (
        SELECT x.*, x.mdr_fee + x.platform_fee AS fee, x.mdr_gst + x.platform_gst AS gst,
               x.mdr_fee + x.platform_fee + x.mdr_gst + x.platform_gst AS total,
               x.amount - (x.mdr_fee + x.platform_fee + x.mdr_gst + x.platform_gst) AS net_amount
        FROM (
            SELECT f.*, round(f.mdr_fee * coalesce(f.mdr_gst_rate, 0) * 0.01, 2) AS mdr_gst,
                   round(f.platform_fee * coalesce(f.platform_gst_rate, 0) * 0.01, 2) AS platform_gst,
                   (f.mdr_fee IS NOT NULL AND f.platform_fee IS NOT NULL
                    AND (f.mdr_config_id IS NOT NULL OR f.payment_mode = ANY(%(zero_mdr_modes)s))) AS priced
            FROM fees f
            OFFSET 0
        ) x
    )"""
    return sql, params


def use_batch_memory(cursor) -> None:
    """Inside a transaction: give this batch statement room to hash and sort in memory
    (the 4MB default spills a month of rows to temp files)."""
    cursor.execute("SET LOCAL work_mem = '64MB'")


def naive_bounds(start: dt.date | dt.datetime, end: dt.date | dt.datetime) -> dict:
    """Core-naive (India time) bounds for txn_sql; dates are India calendar dates."""
    from core_legacy.fields import to_core_naive

    def conv(value):
        if isinstance(value, dt.datetime):
            return to_core_naive(value)
        return dt.datetime.combine(value, dt.time.min)

    return {"start_naive": conv(start), "end_naive": conv(end)}
