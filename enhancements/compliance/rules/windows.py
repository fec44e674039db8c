"""The windowed rules' SQL over the stage of one month (see scan.py).

Three steps, each a few statements over temp tables dropped at commit:

1. find_groups: the groups over a threshold, from aggregates. One pass over the stage groups it
   by merchant, six-hour part and row flags (the parts table, a few tens of thousands of rows);
   the daily baseline rows, every per-merchant monthly figure and the merchant windows come from
   that table. VELOCITY_PAYER has a side of its own (payer_side, on another connection in the
   whole-month scan): one hash aggregate finds the candidate payers (one group per payer: see
   payers_sql), one pass copies their rows (the payer hits) and their windows are counted from
   those. Structuring needs one aggregate over the few payments in its band.
2. collect_hits: one more pass keeps the stage rows an alert can cite: single payments over a
   threshold, the rows of the merchant windows and spike days found, and, for merchants
   a month-wide rule hit, the rows that can be among their largest EVIDENCE_CAP payments (see
   _cutoffs). A few tens of thousands of rows instead of the month. The per-merchant tests
   (cutoffs, spike days) are subscripts of constant arrays, the window tests hashed lookups.
3. rule_queries: per rule, the SELECT producing alert candidates with figures and evidence, read
   from the hits table (VELOCITY_PAYER: from the payer hits; a payer window's rows are grouped
   again for its figures and evidence).

Window buckets are integers (minutes since 1970 in India time, divided by the window): far
cheaper to group on than date_bin(), aligned to the hour/day in IST, stable between runs.
Amount sums in the big aggregates run in float8 over whole paise: exact (every partial sum stays
far below 2^53 paise) and kept in the hash entry itself, where a bigint sum allocates a numeric
state per group.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

from core_legacy.sql import core_table
from enhancements.platform.sql_session import prefer_parallel

from ..models import MerchantDailyVolume, MerchantKyc, Rule, RuleCode
from .sqlbits import aware_sql, mask_sql

# The columns of an alert candidate, in the order every rule's SELECT gives them (scan.upsert_candidates).
CANDIDATE_COLUMNS = ("rule_code, entity_type, entity_key, entity_display, window_key, window_start, window_end, client_id, "
                     "client_code, observed_amount, observed_count, threshold, evidence")  # fmt: skip
EVIDENCE_CAP = 50  # txn ids kept in an alert's evidence (the totals cover all of them)
# Part of a merchant's month the parts table groups by: divides a day (so days roll up from it)
# and an hour-multiple window, and gives every month at least EVIDENCE_CAP parts (112 to 124).
PART_MINUTES = 360
CASH, REFUNDED, CHARGEBACK, NIGHT = 1, 2, 4, 8  # the stage's flag bits (scan.stage_month)

PARTS = "compliance_scan_parts"
MERCHANTS = "compliance_scan_merchants"
PAYERS = "compliance_scan_payers"
PAYER_HITS = "compliance_scan_payer_hits"
PAYER_WINDOWS = "compliance_scan_payer_windows"
PAYER_ALERTS = "compliance_scan_payer_alerts"
BAND_WINDOWS = "compliance_scan_band_windows"
MERCHANT_WINDOWS = "compliance_scan_merchant_windows"
MERCHANT_PARTS = "compliance_scan_merchant_parts"
SPIKES = "compliance_scan_spikes"
CUTOFFS = "compliance_scan_cutoffs"
HITS = "compliance_scan_hits"
_TABLES = (PARTS, MERCHANTS, PAYERS, PAYER_HITS, PAYER_WINDOWS, BAND_WINDOWS, MERCHANT_WINDOWS, MERCHANT_PARTS, SPIKES, CUTOFFS, HITS)


@dataclasses.dataclass
class ScanPlan:
    rules: dict[str, Rule]
    stage: str
    month_start: dt.date
    month_end: dt.date
    # VELOCITY_PAYER's tables (payer_side): temp tables under these names when this connection
    # builds them, or unlogged tables of the scan's own names another connection fills meanwhile
    # (scan.py, the concurrent path), which also leaves the rule's alert candidates in
    # payer_alerts.
    payers: str = PAYERS
    payer_hits: str = PAYER_HITS
    payer_windows: str = PAYER_WINDOWS
    payer_alerts: str | None = None
    # Filled by find_groups / collect_hits: which group tables have rows (empty ones are skipped).
    found: dict[str, int] = dataclasses.field(default_factory=dict)
    hit_rows: int = 0

    @property
    def month_key(self) -> str:
        return f"{self.month_start:%Y-%m}"


def _rupees(paise: str) -> str:
    return f"({paise} / 100.0)::numeric(16, 2)"


def _paise(amount) -> int:
    return int(amount * 100)


def _evidence(extra: str = "") -> str:
    """Evidence of a (small) group of hit rows `s`: the largest payments first."""
    order = " ORDER BY s.paise DESC, s.txn_id"
    return (
        f"jsonb_build_object('txn_ids', to_jsonb((array_agg(s.txn_id{order}))[1:{EVIDENCE_CAP}]), "
        f"'amounts', to_jsonb((array_agg({_rupees('s.paise')}::text{order}))[1:{EVIDENCE_CAP}]), "
        f"'txn_count', count(*), 'total_amount', {_rupees('sum(s.paise)')}::text{extra})"
    )


def _bucket_start(column: str = "h.b") -> str:
    return f"(timestamp '1970-01-01' + make_interval(mins => ({column} * %(minutes)s)::int))"


def _bucket_key(minutes: int, column: str = "h.b") -> str:
    return f"'{minutes}m@' || to_char({_bucket_start(column)}, 'YYYY-MM-DD\"T\"HH24:MI')"


# --- merchant-month rules -------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class MonthRule:
    code: str
    hits_where: str  # over the merchants table `m` (and `joins`)
    flag: int  # rows the evidence lists: the stage flag bit, 0 = every payment
    observed_paise: str
    observed_count: str
    threshold_text: str
    extra: str = ""
    joins: str = ""
    params: dict = dataclasses.field(default_factory=dict)


def _month_rules(rules: dict[str, Rule]) -> list[MonthRule]:
    out = []
    if (r := rules.get(RuleCode.CASH_MONTHLY)) is not None:
        out.append(MonthRule(RuleCode.CASH_MONTHLY, "m.cash_paise > %(paise)s", CASH, "cash_paise", "cash_n",
                             "'monthly cash total > Rs ' || %(amount)s::text",
                             params={"amount": r.threshold_amount, "paise": _paise(r.threshold_amount)}))
    if (r := rules.get(RuleCode.REFUND_RATIO)) is not None:
        out.append(MonthRule(RuleCode.REFUND_RATIO, "m.n >= %(min)s AND m.paise > 0 AND m.refund_paise::numeric / m.paise > %(ratio)s",
                             REFUNDED, "refund_paise", "refund_n",
                             "'refunded / received > ' || %(ratio)s::text || ' (min ' || %(min)s || ' payments)'",
                             extra=", 'received_amount', " + _rupees("h.paise") + "::text, 'ratio', "
                                   "round(h.refund_paise::numeric / h.paise, 4)::text",
                             params={"ratio": r.threshold_ratio, "min": r.min_count}))  # fmt: skip
    if (r := rules.get(RuleCode.CHARGEBACK_RATIO)) is not None:
        out.append(MonthRule(RuleCode.CHARGEBACK_RATIO, "m.n >= %(min)s AND m.cb_n::numeric / m.n > %(ratio)s", CHARGEBACK,
                             "cb_paise", "cb_n", "'chargebacks / payments > ' || %(ratio)s::text || ' (min ' || %(min)s || ' payments)'",
                             extra=", 'payments', h.n, 'ratio', round(h.cb_n::numeric / h.n, 4)::text",
                             params={"ratio": r.threshold_ratio, "min": r.min_count}))
    if (r := rules.get(RuleCode.UNUSUAL_HOURS)) is not None:
        out.append(MonthRule(RuleCode.UNUSUAL_HOURS, "m.night_n >= %(min)s AND m.night_n::numeric / m.n > %(ratio)s", NIGHT,
                             "night_paise", "night_n",
                             "'night share > ' || %(ratio)s::text || ' with >= ' || %(min)s || ' night payments'",
                             extra=", 'payments', h.n, 'night_share', round(h.night_n::numeric / h.n, 4)::text",
                             params={"ratio": r.threshold_ratio, "min": r.min_count}))
    if RuleCode.MERCHANT_FLAGGED in rules:
        out.append(MonthRule(RuleCode.MERCHANT_FLAGGED,
                             "c.client_disable_flag IS TRUE OR c.is_whitelisted IS FALSE OR c.active IS FALSE", 0, "paise", "n",
                             "'merchant disabled / not whitelisted / inactive'",
                             joins=f"JOIN (SELECT client_id AS cid, client_disable_flag, is_whitelisted, active FROM {core_table('client_data_table')}) c ON c.cid = m.client_id",
                             extra=", 'client_disable_flag', h.client_disable_flag, 'is_whitelisted', h.is_whitelisted, 'active', h.active"))  # fmt: skip
    if RuleCode.KYC_NOT_APPROVED in rules:
        out.append(MonthRule(RuleCode.KYC_NOT_APPROVED, "k.status IS DISTINCT FROM 'APPROVED'", 0, "paise", "n",
                             "'KYC status must be APPROVED'",
                             joins=f"LEFT JOIN (SELECT client_id AS kid, status FROM {MerchantKyc._meta.db_table}) k ON k.kid = m.client_id",
                             extra=", 'kyc_status', coalesce(h.status, 'MISSING')"))
    return out


_FLAG_NAMES = {0: "all", CASH: "cash", REFUNDED: "refund", CHARGEBACK: "cb", NIGHT: "night"}


def _flag_sql(flag: int, alias: str = "s") -> str:
    return f"{alias}.flags & {flag} <> 0" if flag else "true"


# --- step 1: groups over a threshold --------------------------------------------------------

def _create(cursor, plan: ScanPlan, table: str, select_sql: str, params: dict | None = None, *,
            key: str | None = None, unlogged: bool = False) -> int:
    """A scratch table from a SELECT; its row count goes to plan.found[key or table]. Temp
    (dropped at commit) unless `unlogged`: then the caller drops it (scan.py)."""
    if unlogged:
        cursor.execute(f"CREATE UNLOGGED TABLE {table} AS {select_sql}", params or {})
    else:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(f"CREATE TEMP TABLE {table} ON COMMIT DROP AS {select_sql}", params or {})
    plan.found[key or table] = cursor.rowcount
    return cursor.rowcount


def _merchant_parts(cursor, plan: ScanPlan) -> None:
    """The parts table, the daily baseline rows (upserted) and the merchants' monthly figures.

    A merchant's code is the smallest of its rows' codes byte-wise (COLLATE "C"). The parts are
    grouped by the code as well, and the smallest is taken over the parts: the core gives each
    client_id one code, so this adds no groups, and it costs less than a min() over every row
    (a comparison and a pass-by-reference transition per row, about a third of this pass)."""
    _create(cursor, plan, PARTS, f"""
        SELECT s.client_id, s.minute / {PART_MINUTES} AS part, s.flags, s.client_code,
               count(*) AS n, sum(s.paise::float8)::bigint AS paise, sum(s.refund_paise::float8)::bigint AS refund_paise,
               max(s.paise) AS top
        FROM {plan.stage} s WHERE s.client_id IS NOT NULL GROUP BY s.client_id, s.minute / {PART_MINUTES}, s.flags, s.client_code""")
    cursor.execute(
        f"""
        INSERT INTO {MerchantDailyVolume._meta.db_table} (client_id, day, txn_count, amount)
        SELECT p.client_id, date '1970-01-01' + (p.part * {PART_MINUTES} / 1440), sum(p.n), {_rupees('sum(p.paise)')}
        FROM {PARTS} p GROUP BY p.client_id, p.part * {PART_MINUTES} / 1440
        ON CONFLICT (client_id, day) DO UPDATE SET txn_count = EXCLUDED.txn_count, amount = EXCLUDED.amount
        """
    )

    def figures(name: str, flag: int) -> str:
        f = f"(p.flags & {flag} <> 0)"
        count = f"coalesce(sum(p.n) FILTER (WHERE {f}), 0) AS {name}_n"
        return count if name == "refund" else f"{count}, coalesce(sum(p.paise) FILTER (WHERE {f}), 0) AS {name}_paise"

    flags = sorted(_FLAG_NAMES)
    # Evidence cutoffs (see _cutoffs): per merchant and flag, the EVIDENCE_CAP-th largest of the
    # parts' largest payments; NULL when fewer parts have such payments (then all of them count).
    tops = ", ".join(f"max(p.top) FILTER (WHERE {_flag_sql(f, 'p')}) AS top_{f}" for f in flags)
    cuts = ", ".join(f"(array_agg(t.top_{f} ORDER BY t.top_{f} DESC) FILTER (WHERE t.top_{f} IS NOT NULL))[{EVIDENCE_CAP}] "
                     f"AS cut_{f}" for f in flags)  # fmt: skip
    _create(cursor, plan, MERCHANTS, f"""
        WITH f AS (
            SELECT p.client_id, min(p.client_code COLLATE "C") AS client_code, sum(p.n) AS n, sum(p.paise) AS paise,
                   {figures('cash', CASH)}, {figures('refund', REFUNDED)}, sum(p.refund_paise) AS refund_paise,
                   {figures('cb', CHARGEBACK)}, {figures('night', NIGHT)}
            FROM {PARTS} p GROUP BY p.client_id
        ), t AS (SELECT p.client_id, p.part, {tops} FROM {PARTS} p GROUP BY p.client_id, p.part
        ), c AS (SELECT t.client_id, {cuts} FROM t GROUP BY t.client_id)
        SELECT f.client_id, f.client_code, f.n, f.paise, f.cash_n, f.cash_paise, f.refund_n, f.refund_paise,
               f.cb_n, f.cb_paise, f.night_n, f.night_paise, {', '.join(f'c.cut_{f}' for f in flags)}
        FROM f JOIN c ON c.client_id = f.client_id""")


def _merchant_windows(cursor, plan: ScanPlan) -> None:
    r = plan.rules[RuleCode.VELOCITY_MERCHANT]
    w, params = r.window_minutes, {"count": r.threshold_count, "paise": _paise(r.threshold_amount)}
    if w % PART_MINUTES == 0:  # whole parts per window: exact from the parts table
        _create(cursor, plan, MERCHANT_WINDOWS, f"""
            SELECT p.client_id, p.part * {PART_MINUTES} / {w} AS b, sum(p.n) AS n, sum(p.paise) AS paise
            FROM {PARTS} p GROUP BY 1, 2 HAVING sum(p.n) >= %(count)s OR sum(p.paise) >= %(paise)s""", params)
    elif PART_MINUTES % w == 0:
        # A window lies inside one part, so only a part over the threshold can hold one that is.
        # Those parts' rows go into the hits table, and the windows are counted there
        # (_merchant_windows_from_hits): on most months there are none and nothing more is read.
        _create(cursor, plan, MERCHANT_PARTS, f"""
            SELECT p.client_id, p.part FROM {PARTS} p GROUP BY 1, 2
            HAVING sum(p.n) >= %(count)s OR sum(p.paise) >= %(paise)s""", params)
    else:
        _create(cursor, plan, MERCHANT_WINDOWS, f"""
            SELECT s.client_id, s.minute / {w} AS b, count(*) AS n, sum(s.paise) AS paise FROM {plan.stage} s
            WHERE s.client_id IS NOT NULL GROUP BY 1, 2 HAVING count(*) >= %(count)s OR sum(s.paise) >= %(paise)s""", params)


def _merchant_windows_from_hits(cursor, plan: ScanPlan) -> None:
    r = plan.rules[RuleCode.VELOCITY_MERCHANT]
    _create(cursor, plan, MERCHANT_WINDOWS, f"""
        SELECT s.client_id, s.minute / {r.window_minutes} AS b, count(*) AS n, sum(s.paise) AS paise
        FROM {HITS} s WHERE (s.client_id, s.minute / {PART_MINUTES}) IN (SELECT p.client_id, p.part FROM {MERCHANT_PARTS} p)
        GROUP BY 1, 2 HAVING count(*) >= %(count)s OR sum(s.paise) >= %(paise)s""",
        {"count": r.threshold_count, "paise": _paise(r.threshold_amount)})


def _payer_threshold(r: Rule) -> dict:
    return {"count": r.threshold_count, "paise": _paise(r.threshold_amount)}


def payers_sql(plan: ScanPlan) -> tuple[str, dict] | None:
    """The SELECT of VELOCITY_PAYER's candidate payers, or None when the rule is off: those whose
    month (the stage) reaches the window's count or amount. Every window over the threshold is
    some candidate's (a window's rows are part of its payer's month, and amounts are positive),
    so only their rows are read again and the windows are counted there (payer_side).
    One group per payer (~330k for 1M payments) instead of one per payer-window (~710k): the
    scan's largest hash aggregate at about 60 % of the cost."""
    if (r := plan.rules.get(RuleCode.VELOCITY_PAYER)) is None:
        return None
    return (f"""SELECT s.payer FROM {plan.stage} s WHERE s.payer IS NOT NULL
                GROUP BY 1 HAVING count(*) >= %(count)s OR sum(s.paise::float8) >= %(paise)s""", _payer_threshold(r))


def payer_side(cursor, plan: ScanPlan, *, unlogged: bool = False) -> None:
    """VELOCITY_PAYER's tables, apart from the merchant side and the hits table: the candidate
    payers (payers_sql), their rows of the month (the payer hits, ~1.5 % of it), and the payer
    windows over the threshold counted from those. With `unlogged` (another connection, scan.py)
    the tables are unlogged ones under the plan's names, and the rule's alert candidates are
    built as well (plan.payer_alerts), so that the scan's connection only inserts them, and the
    payer-hits pass reads the (then unlogged) stage in parallel workers."""
    if (query := payers_sql(plan)) is None:
        return
    r = plan.rules[RuleCode.VELOCITY_PAYER]
    if not _create(cursor, plan, plan.payers, *query, key=PAYERS, unlogged=unlogged):
        return
    if unlogged:  # as for the parts and hits passes (scan._scan_concurrent); this transaction only
        prefer_parallel(cursor)
    _create(cursor, plan, plan.payer_hits, f"""
        SELECT s.txn_id, s.client_id, s.client_code, s.paise, s.minute, s.payer FROM {plan.stage} s
        WHERE s.payer IN (SELECT c.payer FROM {plan.payers} c)""", key=PAYER_HITS, unlogged=unlogged)
    cursor.execute(f"ANALYZE {plan.payer_hits}")
    if not _create(cursor, plan, plan.payer_windows, f"""
            SELECT s.payer, s.minute / {r.window_minutes} AS b FROM {plan.payer_hits} s
            GROUP BY 1, 2 HAVING count(*) >= %(count)s OR sum(s.paise::float8) >= %(paise)s""",
            _payer_threshold(r), key=PAYER_WINDOWS, unlogged=unlogged):
        return
    if unlogged and plan.payer_alerts:
        _, sql, params = _velocity_payer_query(plan)
        _create(cursor, plan, plan.payer_alerts, f"SELECT * FROM ({sql}) AS c ({CANDIDATE_COLUMNS})", params,
                key=PAYER_ALERTS, unlogged=True)


def _band_windows_from_stage(cursor, plan: ScanPlan) -> None:
    """Structuring's band windows when they are not counted from the hits table."""
    if (r := plan.rules.get(RuleCode.STRUCTURING)) is not None and not _band_in_hits(plan.rules):
        _band_windows(cursor, plan, plan.stage)


def _band_in_hits(rules: dict[str, Rule]) -> bool:
    """True when every payment in the structuring band is a HIGH_VALUE one, so that the hits
    table holds them all and the band windows are counted there (a few thousand rows) instead of
    in one more pass over the stage (the default band, Rs 9-10 lakh, lies above Rs 2 lakh)."""
    structuring, high_value = rules.get(RuleCode.STRUCTURING), rules.get(RuleCode.HIGH_VALUE)
    return structuring is not None and high_value is not None and _band(structuring)["low"] >= _paise(high_value.threshold_amount)


def _band_windows(cursor, plan: ScanPlan, source: str) -> None:
    r = plan.rules[RuleCode.STRUCTURING]
    _create(cursor, plan, BAND_WINDOWS, f"""
        SELECT s.payer, s.minute / {r.window_minutes} AS b FROM {source} s
        WHERE s.payer IS NOT NULL AND s.paise >= %(low)s AND s.paise <= %(paise)s
        GROUP BY 1, 2 HAVING count(*) >= %(count)s""", _band(r))


def _band(r: Rule) -> dict:
    low = (r.threshold_amount * (1 - r.threshold_ratio)).quantize(r.threshold_amount)
    return {"count": r.threshold_count, "amount": r.threshold_amount, "paise": _paise(r.threshold_amount),
            "low_amount": low, "low": _paise(low), "minutes": r.window_minutes}


def _spikes(cursor, plan: ScanPlan) -> None:
    r = plan.rules[RuleCode.VOLUME_SPIKE]
    days = int(r.params.get("baseline_days", 30))
    _create(cursor, plan, SPIKES, f"""
        WITH d AS (
            SELECT v.client_id, v.day, v.amount,
                   coalesce(sum(v.amount) OVER w, 0) AS total, count(*) OVER w AS days
            FROM {MerchantDailyVolume._meta.db_table} v
            WHERE v.client_id IN (SELECT client_id FROM {MERCHANTS})
              AND v.day >= %(month_start)s::date - %(days)s AND v.day < %(month_end)s
            WINDOW w AS (PARTITION BY v.client_id ORDER BY v.day
                         RANGE BETWEEN make_interval(days => %(days)s) PRECEDING AND interval '1 day' PRECEDING)
        )
        SELECT d.client_id, d.day, d.day - date '1970-01-01' AS day_no, d.amount, d.total, d.days, m.client_code
        FROM d JOIN {MERCHANTS} m ON m.client_id = d.client_id
        WHERE d.day >= %(month_start)s AND d.day < %(month_end)s AND d.amount >= %(floor)s
          AND d.days >= %(min)s AND d.amount > %(ratio)s * d.total / %(days)s""",
        {"month_start": plan.month_start, "month_end": plan.month_end, "days": days, "min": r.min_count,
         "floor": r.threshold_amount, "ratio": r.threshold_ratio})


def _cutoffs(cursor, plan: ScanPlan) -> None:
    """Per merchant and flag, the smallest amount a payment needs to be evidence of a month-wide
    rule that hit the merchant. The merchant's EVIDENCE_CAP largest such payments are all at or
    above the EVIDENCE_CAP-th largest of its parts' maxima (each of those parts holds a payment at
    least that large), so the hits table keeps only those, not the merchant's whole month."""
    month_rules = _month_rules(plan.rules)
    if not month_rules:
        return
    cursor.execute("DROP TABLE IF EXISTS compliance_scan_month_hits")
    cursor.execute("CREATE TEMP TABLE compliance_scan_month_hits (client_id int, flag int, cut bigint) ON COMMIT DROP")
    for mr in month_rules:
        cursor.execute(f"""INSERT INTO compliance_scan_month_hits SELECT m.client_id, {mr.flag}, coalesce(m.cut_{mr.flag}, -1)
                           FROM {MERCHANTS} m {mr.joins} WHERE {mr.hits_where}""", mr.params)
    cols = ", ".join(f"min(h.cut) FILTER (WHERE h.flag = {f}) AS cut_{f}" for f in sorted(_FLAG_NAMES))
    _create(cursor, plan, CUTOFFS, f"SELECT h.client_id, {cols} FROM compliance_scan_month_hits h GROUP BY h.client_id")
    cursor.execute("DROP TABLE compliance_scan_month_hits")
    # Without statistics the planner takes this for a thousand-row table and hashes the stage
    # to join it; with them the stage is the probe side of a tiny hash.
    cursor.execute(f"ANALYZE {CUTOFFS}")


def find_groups(cursor, plan: ScanPlan, step: Callable[[str], None], *, payers: bool = True) -> None:
    """Step 1; with `payers` False VELOCITY_PAYER's tables are left to the caller (payer_side
    on another connection, its plan.found entries merged once it is done, before VELOCITY_PAYER's
    alerts, the last, are inserted)."""
    _merchant_parts(cursor, plan)
    step("parts, daily baseline and merchant figures")
    if RuleCode.VELOCITY_MERCHANT in plan.rules:
        _merchant_windows(cursor, plan)
        step("merchant windows")
    if payers and RuleCode.VELOCITY_PAYER in plan.rules:
        payer_side(cursor, plan)
        step("candidate payers, their rows and windows")
    _band_windows_from_stage(cursor, plan)
    if RuleCode.VOLUME_SPIKE in plan.rules:
        _spikes(cursor, plan)
    _cutoffs(cursor, plan)
    step("spike days and evidence cutoffs")


# --- step 2: the rows alerts cite -----------------------------------------------------------

# Largest per-merchant lookup array (elements) the hits pass takes as a constant; a month whose
# merchants' ids span more falls back to a join (cutoffs) and a hashed subquery (spike days).
LOOKUP_ARRAY_CAP = 250_000
_NEVER = 2**63 - 1  # a cutoff no payment reaches


def _array_literal(lows: tuple[int, ...], nested: list, text=str) -> str:
    """A PostgreSQL array literal with explicit lower bounds, e.g. '[5:6][0:1]={{1,2},{3,4}}'."""
    def body(value) -> str:
        return "{" + ",".join(body(v) for v in value) + "}" if isinstance(value, list) else text(value)

    dims, level = [], nested
    for low in lows:
        dims.append(f"[{low}:{low + len(level) - 1}]")
        level = level[0]
    return "".join(dims) + "=" + body(nested)


def _cutoff_condition(cursor, flags: list[int], params: dict) -> str | None:
    """The evidence-cutoff test of collect_hits. Per merchant and row flags (0-15) the smallest
    cutoff that applies (the all-payments one, and each flag's the row has) goes into a constant
    array indexed by client_id and flags: one subscript per row instead of a hash join of the
    whole stage to the cutoffs table, which cost more than all the other tests together. None
    when the merchants' ids span too much for one array."""
    cursor.execute(f"SELECT c.client_id, {', '.join(f'c.cut_{f}' for f in flags)} FROM {CUTOFFS} c")
    cuts = {row[0]: dict(zip(flags, row[1:])) for row in cursor.fetchall()}
    low, high = min(cuts), max(cuts)
    if (high - low + 1) * 16 > LOOKUP_ARRAY_CAP:
        return None
    table = []
    for client_id in range(low, high + 1):
        merchant = cuts.get(client_id, {})
        row = []
        for bits in range(16):
            applicable = [cut for f, cut in merchant.items() if cut is not None and (f == 0 or bits & f)]
            row.append(min(applicable) if applicable else _NEVER)
        table.append(row)
    params["cuts"] = _array_literal((low, 0), table)
    return "s.paise >= (%(cuts)s::bigint[])[s.client_id][s.flags]"


def _spike_condition(cursor, params: dict) -> str | None:
    """The spike-day test of collect_hits as a constant boolean array by client_id and day number
    (cheaper per row than a hashed subquery); None when the ids span too much for one."""
    cursor.execute(f"SELECT d.client_id, d.day_no FROM {SPIKES} d")
    days = cursor.fetchall()
    low, high = min(c for c, _ in days), max(c for c, _ in days)
    first, last = min(d for _, d in days), max(d for _, d in days)
    if (high - low + 1) * (last - first + 1) > LOOKUP_ARRAY_CAP:
        return None
    table = [[False] * (last - first + 1) for _ in range(low, high + 1)]
    for client_id, day in days:
        table[client_id - low][day - first] = True
    params["spikes"] = _array_literal((low, first), table, text=lambda v: "t" if v else "f")
    return "coalesce((%(spikes)s::boolean[])[s.client_id][s.minute / 1440], false)"


def _pairs(cursor, table: str, first: str, second: str, params: dict, name: str) -> str:
    """A small table's two int columns as a constant unnest() (see collect_hits)."""
    cursor.execute(f"SELECT t.{first}, t.{second} FROM {table} t")
    rows = cursor.fetchall()
    params[f"{name}_1"], params[f"{name}_2"] = [r[0] for r in rows], [r[1] for r in rows]
    return f"unnest(%({name}_1)s::int[], %({name}_2)s::int[])"


def collect_hits(cursor, plan: ScanPlan) -> None:
    rules, found = plan.rules, plan.found
    # Cheap per-row tests first: a row that passes one skips the hashed lookups after it.
    conditions, hashed, params = [], [], {}
    if (r := rules.get(RuleCode.HIGH_VALUE)) is not None:
        conditions.append("s.paise >= %(hv)s")
        params["hv"] = _paise(r.threshold_amount)
    if (r := rules.get(RuleCode.CROSS_BORDER)) is not None:
        conditions.append("(s.cross_border AND s.paise > %(xb)s)")
        params["xb"] = _paise(r.threshold_amount)
    if found.get(BAND_WINDOWS):
        hashed.append(f"(s.payer, s.minute / {rules[RuleCode.STRUCTURING].window_minutes}) "
                      f"IN (SELECT w.payer, w.b FROM {BAND_WINDOWS} w)")
    # The (few) merchant windows / parts over the threshold as constant lists rather than
    # subqueries over their temp tables: a plan reading a temp table cannot run in parallel
    # workers, and over the unlogged stage of the concurrent path this pass can (scan.py).
    if found.get(MERCHANT_WINDOWS):
        hashed.append(f"(s.client_id, s.minute / {rules[RuleCode.VELOCITY_MERCHANT].window_minutes}) "
                      f"IN (SELECT * FROM {_pairs(cursor, MERCHANT_WINDOWS, 'client_id', 'b', params, 'mw')})")
    if found.get(MERCHANT_PARTS):
        hashed.append(f"(s.client_id, s.minute / {PART_MINUTES}) "
                      f"IN (SELECT * FROM {_pairs(cursor, MERCHANT_PARTS, 'client_id', 'part', params, 'mp')})")
    if found.get(SPIKES):
        if (spike := _spike_condition(cursor, params)) is not None:
            conditions.append(spike)
        else:
            hashed.append(f"(s.client_id, s.minute / 1440) IN (SELECT d.client_id, d.day_no FROM {SPIKES} d)")
    joins = ""
    if found.get(CUTOFFS):
        flags = sorted({mr.flag for mr in _month_rules(rules)})
        if (cut := _cutoff_condition(cursor, flags, params)) is not None:
            conditions.append(cut)
        else:
            joins = f"LEFT JOIN {CUTOFFS} c ON c.client_id = s.client_id"
            conditions += [f"(s.paise >= c.cut_{f} AND {_flag_sql(f)})" for f in flags]
    conditions += hashed
    plan.hit_rows = _create(cursor, plan, HITS, f"""
        SELECT s.txn_id, s.client_id, s.client_code, s.ts, s.paise, s.minute, s.payment_mode, s.payer, s.flags,
               s.cross_border
        FROM {plan.stage} s {joins} WHERE {' OR '.join(conditions) or 'false'}""", params)
    if found.get(CUTOFFS):
        # Month-wide evidence: each merchant's largest payments, read off this index.
        cursor.execute(f"CREATE INDEX ON {HITS} (client_id, paise DESC)")
    cursor.execute(f"ANALYZE {HITS}")
    if found.get(MERCHANT_PARTS):
        _merchant_windows_from_hits(cursor, plan)
    if _band_in_hits(rules):
        _band_windows(cursor, plan, HITS)


def drop_tables(cursor, plan: ScanPlan) -> None:
    cursor.execute(f"DROP TABLE IF EXISTS {', '.join(_TABLES)}")


# --- step 3: alert candidates ---------------------------------------------------------------

def _common(plan: ScanPlan) -> dict:
    return {"month_key": plan.month_key, "month_start": plan.month_start, "month_end": plan.month_end}


def _payer_query(plan: ScanPlan, code: str, r: Rule, windows: str, found_key: str, hits: str, where: str, having: str,
                 threshold_text: str, **params) -> tuple[str, str | None, dict]:
    """A payer-window rule's candidates: the windows found (`windows`, counted in
    plan.found[found_key]) regrouped over their rows (`hits`) for the figures and evidence; no
    SELECT when no window was found."""
    if not plan.found.get(found_key):
        return code, None, {}
    bucket = f"(s.minute / {r.window_minutes})"
    return code, f"""
        SELECT '{code}', 'PAYER', encode(sha256(convert_to(s.payer, 'UTF8')), 'hex'), {mask_sql('s.payer')},
               {_bucket_key(r.window_minutes, "hh.b")}, {aware_sql(_bucket_start("hh.b"))},
               {aware_sql(_bucket_start("hh.b") + " + make_interval(mins => %(minutes)s)")},
               CASE WHEN count(DISTINCT s.client_id) = 1 THEN min(s.client_id) END,
               CASE WHEN count(DISTINCT s.client_id) = 1 THEN min(s.client_code) ELSE '' END,
               {_rupees('sum(s.paise)')}, count(*)::int, {threshold_text},
               {_evidence(", 'payer', " + mask_sql('s.payer') + ", 'client_codes', to_jsonb(array_agg(DISTINCT s.client_code))")}
        FROM {windows} hh JOIN {hits} s ON s.payer = hh.payer AND {bucket} = hh.b {where}
        GROUP BY s.payer, hh.b HAVING {having}""", {**_common(plan), "minutes": r.window_minutes, **params}


def _velocity_payer_query(plan: ScanPlan) -> tuple[str, str | None, dict]:
    r = plan.rules[RuleCode.VELOCITY_PAYER]
    return _payer_query(plan, RuleCode.VELOCITY_PAYER, r, plan.payer_windows, PAYER_WINDOWS, plan.payer_hits, "",
                        "count(*) >= %(count)s OR sum(s.paise) >= %(paise)s",
                        "'>= ' || %(count)s || ' payments or >= Rs ' || %(amount)s::text || ' in ' || %(minutes)s || ' min'",
                        count=r.threshold_count, amount=r.threshold_amount, paise=_paise(r.threshold_amount))


def rule_queries(plan: ScanPlan) -> list[tuple[str, str, dict]]:
    """(rule code, SELECT producing alert candidates, params) for every enabled stage-based rule;
    the SELECT is None when step 1 found no group the rule could raise."""
    rules, found = plan.rules, plan.found
    start_tz, end_tz = aware_sql("%(month_start)s::timestamp"), aware_sql("%(month_end)s::timestamp")
    common = _common(plan)
    month_window = f"%(month_key)s, {start_tz}, {end_tz}"
    out: list[tuple[str, str, dict]] = []

    def add(code, sql, **params):
        if code in rules:
            out.append((code, sql, {**common, **params}))

    def txn_rule(code, where, threshold_text, **params):
        add(code, f"""
            SELECT '{code}', 'TXN', s.txn_id, s.txn_id, 'txn', {aware_sql('s.ts')}, {aware_sql('s.ts')},
                   s.client_id, s.client_code, {_rupees('s.paise')}, 1, {threshold_text},
                   jsonb_build_object('txn_ids', jsonb_build_array(s.txn_id), 'amounts', jsonb_build_array({_rupees('s.paise')}::text),
                                      'payment_mode', s.payment_mode, 'trans_date', {aware_sql('s.ts')})
            FROM {HITS} s WHERE {where}""", **params)

    if (r := rules.get(RuleCode.HIGH_VALUE)) is not None:
        txn_rule(RuleCode.HIGH_VALUE, "s.paise >= %(paise)s", "'amount >= Rs ' || %(amount)s::text",
                 amount=r.threshold_amount, paise=_paise(r.threshold_amount))
    if (r := rules.get(RuleCode.CROSS_BORDER)) is not None:
        txn_rule(RuleCode.CROSS_BORDER, "s.cross_border AND s.paise > %(paise)s",
                 "'cross-border amount > Rs ' || %(amount)s::text", amount=r.threshold_amount, paise=_paise(r.threshold_amount))

    if RuleCode.VELOCITY_PAYER in rules:
        if plan.payer_alerts is None:
            out.append(_velocity_payer_query(plan))
        else:  # built on the other connection (payer_side): only inserted here
            out.append((RuleCode.VELOCITY_PAYER, f"SELECT * FROM {plan.payer_alerts}" if found.get(PAYER_ALERTS) else None, {}))
    if (r := rules.get(RuleCode.STRUCTURING)) is not None:
        band = _band(r)
        out.append(_payer_query(plan, RuleCode.STRUCTURING, r, BAND_WINDOWS, BAND_WINDOWS, HITS, "AND s.paise >= %(low)s AND s.paise <= %(paise)s",
                                "count(*) >= %(count)s",
                                "'>= ' || %(count)s || ' payments of Rs ' || %(low_amount)s::text || ' to ' || %(amount)s::text || ' in ' || %(minutes)s || ' min'",
                                **{k: v for k, v in band.items() if k != "minutes"}))  # fmt: skip
    if (r := rules.get(RuleCode.VELOCITY_MERCHANT)) is not None and not found.get(MERCHANT_WINDOWS):
        out.append((RuleCode.VELOCITY_MERCHANT, None, {}))
    elif r is not None:
        add(RuleCode.VELOCITY_MERCHANT, f"""
            SELECT 'VELOCITY_MERCHANT', 'MERCHANT', h.client_id::text, min(s.client_code), {_bucket_key(r.window_minutes)},
                   {aware_sql(_bucket_start())}, {aware_sql(_bucket_start() + " + make_interval(mins => %(minutes)s)")}, h.client_id, min(s.client_code),
                   {_rupees('h.paise')}, h.n::int,
                   '>= ' || %(count)s || ' payments or >= Rs ' || %(amount)s::text || ' in ' || %(minutes)s || ' min',
                   {_evidence()}
            FROM {MERCHANT_WINDOWS} h JOIN {HITS} s ON s.client_id = h.client_id AND s.minute / %(minutes)s = h.b
            GROUP BY h.client_id, h.b, h.n, h.paise""",
            minutes=r.window_minutes, count=r.threshold_count, amount=r.threshold_amount)

    for mr in _month_rules(rules):
        # Evidence: the merchant's largest matching payments, read through the hits table's
        # (client_id, paise DESC) index: no sort of the merchant's whole month.
        add(mr.code, f"""
            WITH h AS (SELECT * FROM {MERCHANTS} m {mr.joins} WHERE {mr.hits_where})
            SELECT '{mr.code}', 'MERCHANT', h.client_id::text, h.client_code, {month_window}, h.client_id, h.client_code,
                   {_rupees(f'h.{mr.observed_paise}')}, h.{mr.observed_count}::int, {mr.threshold_text},
                   jsonb_build_object('txn_ids', to_jsonb(e.ids), 'amounts', to_jsonb(e.amounts), 'txn_count', h.{mr.observed_count},
                                      'total_amount', {_rupees(f'h.{mr.observed_paise}')}::text{mr.extra})
            FROM h CROSS JOIN LATERAL (
                SELECT array_agg(x.txn_id ORDER BY x.paise DESC, x.txn_id) AS ids,
                       array_agg({_rupees('x.paise')}::text ORDER BY x.paise DESC, x.txn_id) AS amounts
                FROM (SELECT s.txn_id, s.paise FROM {HITS} s WHERE s.client_id = h.client_id AND {_flag_sql(mr.flag)}
                      ORDER BY s.paise DESC, s.txn_id LIMIT {EVIDENCE_CAP}) x) e""", **mr.params)

    if (r := rules.get(RuleCode.VOLUME_SPIKE)) is not None and not found.get(SPIKES):
        out.append((RuleCode.VOLUME_SPIKE, None, {}))
    elif r is not None:
        days = int(r.params.get("baseline_days", 30))
        add(RuleCode.VOLUME_SPIKE, f"""
            SELECT 'VOLUME_SPIKE', 'MERCHANT', h.client_id::text, h.client_code, 'day@' || h.day::text,
                   {aware_sql('h.day::timestamp')}, {aware_sql("(h.day + 1)::timestamp")}, h.client_id, h.client_code,
                   h.amount, count(*)::int, 'day amount > ' || %(ratio)s::text || ' x own ' || %(days)s || '-day average',
                   {_evidence(", 'baseline_daily_average', round(min(h.total) / %(days)s, 2)::text, 'baseline_active_days', min(h.days)")}
            FROM {SPIKES} h JOIN {HITS} s ON s.client_id = h.client_id AND s.minute / 1440 = h.day_no
            GROUP BY h.client_id, h.client_code, h.day, h.amount""",
            ratio=r.threshold_ratio, days=days)
    return out
