"""Set-based pricing: the fee every core transaction should carry, computed in one SQL
statement (bulk calculation, reconciliation and previews share it).

It implements exactly calculator.py's rules (caps, slabs, tiers, rounding half away from
zero: PostgreSQL's round(numeric, 2)); tests compare the two on the same inputs.
Promotions are not part of it: they are discretionary per calculation, while this is
"what the configuration says".

Configuration lookup per transaction and fee type: the merchant's approved version whose
[effective_from, effective_until) holds the transaction time, else the default version
(client_id NULL) for the mode. The versions are first resolved into terms (one per slab or
tier and time segment, merchant vs default decided per merchant and period: pricing_terms)
and passed as arrays, so each fee type is one hash join on (client key, payment_mode)
against a few hundred known rows, with at most one match.
The statement is parallel-safe (no CTE scan, no OFFSET fence; see FENCE), so a read-only
statement over it can use PostgreSQL's parallel workers (the reconciliation does).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
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


# One pricing term: a configuration version narrowed to one slab or tier (or the whole
# version when it has neither) and to a time segment, with the amount and volume range it
# applies to, under a client key (see pricing_terms). Built once per statement from the few
# hundred configuration rows and passed to the pricing SELECT as arrays, so the planner
# knows exactly how small the inner side of each join is.
TERM_COLUMNS = (
    ("config_id", "bigint"), ("client_key", "bigint"), ("payment_mode", "text"), ("fee_type", "text"),
    ("from_naive", "timestamp"), ("until_naive", "timestamp"), ("amount_lower", "numeric"),
    ("amount_lower_inclusive", "boolean"), ("amount_upper", "numeric"), ("amount_upper_inclusive", "boolean"),
    ("volume_lower", "numeric"), ("volume_upper", "numeric"), ("band", "int"), ("percent", "numeric"),
    ("fixed", "numeric"), ("min_fee", "numeric"), ("max_fee", "numeric"), ("gst_rate", "numeric"),
)  # fmt: skip


def _configurations_sql(proposal: Proposal | None) -> tuple[str, dict]:
    """The approved versions overlapping [%(start_naive)s, %(end_naive)s) (a proposal replaces
    its merchant+mode+fee type), and their slabs and tiers parsed from JSON, one row per
    (version, slab or tier)."""
    table = FeeConfiguration._meta.db_table
    params: dict = {"tz": settings.CORE_TIME_ZONE}
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
    )
    SELECT c.id, c.client_id, c.payment_mode, c.fee_type, c.structure, c.percent, c.fixed_amount, c.min_fee, c.max_fee,
           c.gst_rate, CASE WHEN isfinite(c.from_naive) THEN c.from_naive END,
           CASE WHEN isfinite(c.until_naive) THEN c.until_naive END,
           e.band, e.lower, e.lower_inclusive, e.upper, e.upper_inclusive, e.min_volume, e.next_min, e.percent, e.fixed
    FROM cfg c LEFT JOIN LATERAL (  -- this version's slabs or tiers
        SELECT (e.ord - 1)::int AS band, (e.s->>'lower')::numeric AS lower,
               (e.s->>'lower_inclusive')::boolean AS lower_inclusive, (e.s->>'upper')::numeric AS upper,
               coalesce((e.s->>'upper_inclusive')::boolean, false) AS upper_inclusive,
               NULL::numeric AS min_volume, NULL::numeric AS next_min,
               (e.s->>'percent')::numeric AS percent, (e.s->>'fixed')::numeric AS fixed
        FROM jsonb_array_elements(c.slabs) WITH ORDINALITY AS e(s, ord)
        WHERE c.structure = 'slab'
        UNION ALL
        SELECT (e.ord - 1)::int, NULL, NULL, NULL, NULL, (e.s->>'min_volume')::numeric,
               (SELECT min((n.s->>'min_volume')::numeric) FROM jsonb_array_elements(c.tiers) AS n(s)
                WHERE (n.s->>'min_volume')::numeric > (e.s->>'min_volume')::numeric),
               (e.s->>'percent')::numeric, (e.s->>'fixed')::numeric
        FROM jsonb_array_elements(c.tiers) WITH ORDINALITY AS e(s, ord)
        WHERE c.structure = 'volume_tier'
    ) e ON true
    ORDER BY c.id, e.band"""
    return sql, params


# The client key of default terms: outside the int4 range of core client ids.
DEFAULT_KEY = -(2**32)
_OPEN_START, _OPEN_END = dt.datetime.min, dt.datetime.max


def _uncovered(start, end, covered: list) -> list[tuple]:
    """[start, end) minus the union of the `covered` [a, b) intervals (None: unbounded)."""
    lo, hi = start or _OPEN_START, end or _OPEN_END
    pieces = []
    for a, b in sorted((a or _OPEN_START, b or _OPEN_END) for a, b in covered):
        if b <= lo:
            continue
        if a >= hi:
            break
        if a > lo:
            pieces.append((lo, a))
        lo = max(lo, b)
    if lo < hi:
        pieces.append((lo, hi))
    return [(None if a == _OPEN_START else a, None if b == _OPEN_END else b) for a, b in pieces]


def pricing_terms(cursor, *, start_naive: dt.datetime, end_naive: dt.datetime, proposal: Proposal | None) -> dict:
    """The configuration in force over the period as pricing terms (TERM_COLUMNS), as params
    `t_<column>` (arrays) for priced_ctes, plus `own_mdr` / `own_platform` (merchants with
    versions of their own) and `tier_clients` / `tier_default` (whose previous-month volume
    the tiers need).

    Slabs and tiers: a slab (tier) version becomes one term per slab (tier) with its amount
    (volume) range, plus "gap" terms with no rate below the first and above the last one: a
    transaction the version covers but no slab matches still finds the version (and is
    unpriced, as the calculator refuses it) instead of falling through to the default.
    Validated slabs and tiers are contiguous, so those are the only gaps. A NULL bound is
    open (the SQL tests `IS NULL` first); a slab without a lower bound, or a tier without
    min_volume, never matched (comparisons with NULL) and is left out.

    Merchant vs default, resolved here rather than per transaction: a merchant's own terms
    carry its client id as key; a merchant with versions of its own (for that fee type) also
    gets a copy of each default term, keyed by its id and cut to the time its own versions
    of that mode do not cover; every other merchant uses the default terms (DEFAULT_KEY).
    So each fee type is one join, on (key, payment_mode), with at most one match."""
    sql, params = _configurations_sql(proposal)
    params.update(start_naive=start_naive, end_naive=end_naive)
    cursor.execute(sql, params)
    rows: list[dict] = []
    tier_clients: set[int] = set()
    tier_default = False

    def add(c, **values) -> None:
        rows.append({"config_id": c[0], "client_id": c[1], "payment_mode": c[2], "fee_type": c[3], "from_naive": c[10],
                     "until_naive": c[11], "min_fee": c[7], "max_fee": c[8], "gst_rate": c[9], **values})  # fmt: skip

    for _, group in itertools.groupby(cursor.fetchall(), key=lambda r: r[0]):
        versions = list(group)
        c, structure = versions[0], versions[0][4]
        if structure == "slab":
            bands = [r for r in versions if r[12] is not None and r[13] is not None]
            for r in bands:
                add(c, band=r[12], amount_lower=r[13], amount_lower_inclusive=r[14], amount_upper=r[15],
                    amount_upper_inclusive=r[16], percent=r[19], fixed=r[20])  # fmt: skip
            if not bands:
                add(c)
                continue
            first = min(bands, key=lambda r: (r[13], not r[14]))
            add(c, amount_upper=first[13], amount_upper_inclusive=not first[14])
            if all(r[15] is not None for r in bands):
                last = max(bands, key=lambda r: (r[15], r[16]))
                add(c, amount_lower=last[15], amount_lower_inclusive=not last[16])
        elif structure == "volume_tier":
            if c[1] is None:
                tier_default = True
            else:
                tier_clients.add(c[1])
            tiers = [r for r in versions if r[12] is not None and r[17] is not None]
            for r in tiers:
                add(c, band=r[12], volume_lower=r[17], volume_upper=r[18], percent=r[19], fixed=r[20])
            add(c, volume_upper=min((r[17] for r in tiers), default=None))  # the gap below the first tier
        else:
            add(c, percent=c[5], fixed=c[6])

    covered: dict[tuple, dict] = {}  # (fee type, client, mode) -> {config id: its period}
    for r in rows:
        if r["client_id"] is not None:
            covered.setdefault((r["fee_type"], r["client_id"], r["payment_mode"]), {})[r["config_id"]] = (
                r["from_naive"], r["until_naive"])
    own = {fee_type: sorted({k[1] for k in covered if k[0] == fee_type}) for fee_type in ("mdr", "platform")}
    resolved = []
    for r in rows:
        if r["client_id"] is not None:
            resolved.append({**r, "client_key": r["client_id"]})
            continue
        resolved.append({**r, "client_key": DEFAULT_KEY})
        for client_id in own.get(r["fee_type"], ()):
            periods = covered.get((r["fee_type"], client_id, r["payment_mode"]), {}).values()
            for start, end in _uncovered(r["from_naive"], r["until_naive"], list(periods)):
                resolved.append({**r, "client_key": client_id, "from_naive": start, "until_naive": end})
    result = {f"t_{name}": [r.get(name) for r in resolved] for name, _ in TERM_COLUMNS}
    result.update(own_mdr=own["mdr"], own_platform=own["platform"], tier_clients=sorted(tier_clients),
                  tier_default=tier_default)  # fmt: skip
    return result


# Planner fence, parallel-safe: a subquery whose select list calls a volatile function is
# never flattened into the query above it (PostgreSQL will not risk evaluating a volatile call
# more than once), so the expressions it computes are evaluated once per row instead of once
# per reference above (the fee expression is referenced by fee, gst, total, net and the
# reconciliation's comparisons). clock_timestamp() is the cheapest such call that is also
# PARALLEL SAFE. The fences used before, `OFFSET 0` (a LIMIT/OFFSET subquery is never split
# across parallel workers) and a set-returning call (ProjectSet evaluates every expression
# of its row twice: once for the row and again when the set ends), were measured slower.
FENCE = "clock_timestamp() AS fence"


def _component(alias: str, fee_type: str, *, with_tiers: bool) -> tuple[str, str]:
    """(join, columns incl. the fee) for one fee type: the one term (pricing_terms) whose
    key, mode, period, amount range and volume range hold the transaction."""
    a, f = alias, fee_type
    key = f"CASE WHEN t.client_id = ANY(%(own_{f})s::int[]) THEN t.client_id::bigint ELSE {DEFAULT_KEY} END"
    applies = (f"t.trans_date >= {a}.from_naive AND t.trans_date < {a}.until_naive"
               f" AND ({a}.amount_lower IS NULL OR t.amount > {a}.amount_lower"
               f" OR ({a}.amount_lower_inclusive AND t.amount = {a}.amount_lower))"
               f" AND ({a}.amount_upper IS NULL OR t.amount < {a}.amount_upper"
               f" OR ({a}.amount_upper_inclusive AND t.amount = {a}.amount_upper))")  # fmt: skip
    if with_tiers:
        applies += (f" AND ({a}.volume_lower IS NULL OR t.monthly_volume >= {a}.volume_lower)"
                    f" AND ({a}.volume_upper IS NULL OR t.monthly_volume < {a}.volume_upper)")  # fmt: skip
    join = f"""
        LEFT JOIN terms {a} ON {a}.fee_type = '{f}' AND {a}.client_key = {key} AND {a}.payment_mode = t.payment_mode
             AND {applies}"""
    # raw = amount x pct / 100 + fixed (x 0.01 is the same exact value, cheaper than numeric
    # division). raw >= 0 (rates are validated >= 0), so a missing minimum is 0 and a missing
    # maximum +Infinity. NULL: a gap term (no slab/tier matched; validation prevents it).
    fee = (f"CASE WHEN {a}.config_id IS NULL THEN 0::numeric WHEN {a}.percent IS NULL OR {a}.fixed IS NULL THEN NULL "
           f"ELSE round(LEAST(GREATEST(t.amount * {a}.percent * 0.01 + {a}.fixed, coalesce({a}.min_fee, 0)), "
           f"coalesce({a}.max_fee, 'Infinity'::numeric)), 2) END")  # fmt: skip
    columns = (f"{a}.config_id AS {f}_config_id, {a}.band AS {f}_band, {a}.gst_rate AS {f}_gst_rate, "
               f"{fee} AS {f}_fee")  # fmt: skip
    return join, columns


def priced_ctes(*, txn_sql: str, with_platform: bool, with_tiers: bool, terms: dict) -> tuple[str, str, dict]:
    """(`WITH ...` clause, `priced` subquery, params) over txn_sql (terms from pricing_terms
    included in params); use as `{ctes} SELECT ... FROM ({priced}) p`. `priced` has the txn columns plus mdr_/platform_ config_id, band, fee, and
    fee, gst, total, net_amount, monthly_volume and `priced` (false: no configuration covers
    a mode that needs one).

    Parallel-safe (no CTE is materialised, no OFFSET fence): a read-only statement over it
    can use PostgreSQL's parallel workers (reconciliation does)."""
    params: dict = {"tz": settings.CORE_TIME_ZONE, "zero_mdr_modes": list(ZERO_MDR_RULES), "client_ids": None}
    params.update(terms)
    unnest_args = ", ".join(f"%(t_{name})s::{kind}[]" for name, kind in TERM_COLUMNS)
    term_columns = ", ".join(name for name, _ in TERM_COLUMNS)
    volume, volume_cte = "NULL::numeric AS monthly_volume", ""
    if with_tiers:
        td = core_table("transaction_detail")
        # Tier volume: the merchant's fee-bearing volume in the previous calendar month.
        volume_cte = f""",
        volumes AS (
            SELECT td.client_id, date_trunc('month', td.trans_date) AS month, sum({AMOUNT}) AS volume
            FROM {td} td
            WHERE td.trans_date >= date_trunc('month', %(start_naive)s::timestamp) - interval '1 month'
              AND td.trans_date < date_trunc('month', %(end_naive)s::timestamp - interval '1 microsecond')
              AND (%(client_ids)s::int[] IS NULL OR td.client_id = ANY(%(client_ids)s::int[]))
              AND (%(tier_default)s OR td.client_id = ANY(%(tier_clients)s::int[]))
              AND {FEE_BEARING}
            GROUP BY 1, 2)"""
        volume = "coalesce(v.volume, 0) AS monthly_volume"
    mdr_join, mdr_columns = _component("m", "mdr", with_tiers=with_tiers)
    if with_platform:
        plat_join, plat_columns = _component("p", "platform", with_tiers=with_tiers)
    else:
        plat_join = ""
        plat_columns = ("NULL::bigint AS platform_config_id, NULL::int AS platform_band, "
                        "NULL::numeric AS platform_gst_rate, 0::numeric AS platform_fee")  # fmt: skip
    ctes = f"""
    WITH terms AS NOT MATERIALIZED (
        SELECT config_id, client_key, payment_mode, fee_type, coalesce(from_naive, '-infinity'::timestamp) AS from_naive,
               coalesce(until_naive, 'infinity'::timestamp) AS until_naive, amount_lower, amount_lower_inclusive,
               amount_upper, amount_upper_inclusive, volume_lower, volume_upper, band, percent, fixed, min_fee, max_fee,
               gst_rate
        FROM unnest({unnest_args}) AS x({term_columns})
    ){volume_cte}
    """
    # Nested subqueries, not CTEs: a CTE holding a volatile call (the FENCE) is always
    # materialised, and a materialised CTE is never scanned by parallel workers.
    volume_join = ("LEFT JOIN volumes v ON v.client_id = t0.client_id "
                   "AND v.month = date_trunc('month', t0.trans_date) - interval '1 month'") if with_tiers else ""  # fmt: skip
    txn = f"SELECT t0.*, {volume} FROM (SELECT x.*, {FENCE}0 FROM ({txn_sql}) x) t0 {volume_join}"
    fees = f"SELECT t.*, {mdr_columns}, {plat_columns}, {FENCE}1 FROM ({txn}) t {mdr_join} {plat_join}"
    priced = f"""
        SELECT x.*, x.mdr_fee + x.platform_fee AS fee, x.mdr_gst + x.platform_gst AS gst,
               x.mdr_fee + x.platform_fee + x.mdr_gst + x.platform_gst AS total,
               x.amount - (x.mdr_fee + x.platform_fee + x.mdr_gst + x.platform_gst) AS net_amount
        FROM (
            SELECT f.*, round(f.mdr_fee * coalesce(f.mdr_gst_rate, 0) * 0.01, 2) AS mdr_gst,
                   round(f.platform_fee * coalesce(f.platform_gst_rate, 0) * 0.01, 2) AS platform_gst,
                   (f.mdr_fee IS NOT NULL AND f.platform_fee IS NOT NULL
                    AND (f.mdr_config_id IS NOT NULL OR f.payment_mode = ANY(%(zero_mdr_modes)s))) AS priced,
                   {FENCE}3
            FROM ({fees}) f
        ) x"""
    return ctes, priced, params


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
