"""Windowed rules as set-based SQL over one month of transaction_detail.

One pass over the core copies the month's received payments (narrow columns) into a temp
table; every rule then aggregates that table and upserts its alerts in one statement:
new (rule, entity, window) keys are inserted, open alerts get their figures refreshed, and a
key whose alert was already closed is not raised again (an operator's decision sticks).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from core_legacy.sql import core_table
from enhancements.regulatory.reporting import month_bounds

from ..models import Alert, AuditEntry, MerchantDailyVolume, MerchantKyc, Rule, RuleCode
from .sqlbits import aware_sql, identity_sql, mask_sql, paise_sql, received_sql

STAGE = "compliance_scan_stage"
MERCHANTS = "compliance_scan_merchants"
EVIDENCE_CAP = 50  # txn ids kept in an alert's evidence (the totals cover all of them)


def _rupees(paise: str) -> str:
    return f"({paise} / 100.0)::numeric(16, 2)"


def _evidence(extra: str = "") -> str:
    """Evidence of a (small) group of stage rows `s`: the largest payments first."""
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


def _paise(amount) -> int:
    return int(amount * 100)


def _rule_queries(rules: dict[str, Rule], month_key: str, month_start: dt.date, month_end: dt.date) -> list[tuple[str, str, dict]]:
    """(rule code, SELECT producing alert candidates, params) for every enabled stage-based rule.

    Two phases per rule: find the groups over the threshold with cheap integer aggregates, then
    collect evidence (sorted txn ids) only for those groups.
    """
    start_tz, end_tz = aware_sql("%(month_start)s::timestamp"), aware_sql("%(month_end)s::timestamp")
    common = {"month_key": month_key, "month_start": month_start, "month_end": month_end}
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
            FROM {STAGE} s WHERE {where}""", **params)

    if (r := rules.get(RuleCode.HIGH_VALUE)) is not None:
        txn_rule(RuleCode.HIGH_VALUE, "s.paise >= %(paise)s", "'amount >= Rs ' || %(amount)s::text",
                 amount=r.threshold_amount, paise=_paise(r.threshold_amount))
    if (r := rules.get(RuleCode.CROSS_BORDER)) is not None:
        txn_rule(RuleCode.CROSS_BORDER, "s.payment_mode = ANY(%(modes)s) AND s.paise > %(paise)s",
                 "'cross-border amount > Rs ' || %(amount)s::text", amount=r.threshold_amount, paise=_paise(r.threshold_amount),
                 modes=r.params.get("payment_modes", ["International Card"]))

    # Window buckets as integers (minutes since 1970 in India time, divided by the window): far
    # cheaper to group on than date_bin() over a month of rows. Aligned to the hour/day in IST.
    bucket = "(s.minute / %(minutes)s)"

    def payer_bucket(code, r, where, having, threshold_text, **params):
        # Phase 1 groups on a 32-bit hash of the payer (small, fast hash table); a collision can
        # only add a candidate. Phase 2 re-groups the candidates' rows per real payer, re-checks
        # the threshold and builds the evidence in the same pass over the stage.
        add(code, f"""
            WITH hh AS (
                SELECT s.payer_h, {bucket} AS b FROM {STAGE} s
                WHERE s.payer_h IS NOT NULL {where} GROUP BY 1, 2 HAVING {having})
            SELECT '{code}', 'PAYER', encode(sha256(convert_to(s.payer, 'UTF8')), 'hex'), {mask_sql('s.payer')},
                   {_bucket_key(r.window_minutes, "hh.b")}, {aware_sql(_bucket_start("hh.b"))},
                   {aware_sql(_bucket_start("hh.b") + " + make_interval(mins => %(minutes)s)")},
                   CASE WHEN count(DISTINCT s.client_id) = 1 THEN min(s.client_id) END,
                   CASE WHEN count(DISTINCT s.client_id) = 1 THEN min(s.client_code) ELSE '' END,
                   {_rupees('sum(s.paise)')}, count(*)::int, {threshold_text},
                   {_evidence(", 'payer', " + mask_sql('s.payer') + ", 'client_codes', to_jsonb(array_agg(DISTINCT s.client_code))")}
            FROM hh JOIN {STAGE} s ON s.payer_h = hh.payer_h AND {bucket} = hh.b {where}
            GROUP BY s.payer, hh.b HAVING {having}""", minutes=r.window_minutes, **params)

    if (r := rules.get(RuleCode.VELOCITY_PAYER)) is not None:
        payer_bucket(RuleCode.VELOCITY_PAYER, r, "", "count(*) >= %(count)s OR sum(s.paise) >= %(paise)s",
                     "'>= ' || %(count)s || ' payments or >= Rs ' || %(amount)s::text || ' in ' || %(minutes)s || ' min'",
                     count=r.threshold_count, amount=r.threshold_amount, paise=_paise(r.threshold_amount))
    if (r := rules.get(RuleCode.STRUCTURING)) is not None:
        low = (r.threshold_amount * (1 - r.threshold_ratio)).quantize(r.threshold_amount)
        payer_bucket(RuleCode.STRUCTURING, r, "AND s.paise >= %(low_paise)s AND s.paise <= %(paise)s", "count(*) >= %(count)s",
                     "'>= ' || %(count)s || ' payments of Rs ' || %(low)s::text || ' to ' || %(amount)s::text || ' in ' || %(minutes)s || ' min'",
                     count=r.threshold_count, amount=r.threshold_amount, paise=_paise(r.threshold_amount), low=low,
                     low_paise=_paise(low))
    if (r := rules.get(RuleCode.VELOCITY_MERCHANT)) is not None:
        add(RuleCode.VELOCITY_MERCHANT, f"""
            WITH h AS (
                SELECT s.client_id, {bucket} AS b, count(*) AS n, sum(s.paise) AS paise FROM {STAGE} s
                GROUP BY 1, 2 HAVING count(*) >= %(count)s OR sum(s.paise) >= %(paise)s)
            SELECT 'VELOCITY_MERCHANT', 'MERCHANT', h.client_id::text, min(s.client_code), {_bucket_key(r.window_minutes)},
                   {aware_sql(_bucket_start())}, {aware_sql(_bucket_start() + " + make_interval(mins => %(minutes)s)")}, h.client_id, min(s.client_code),
                   {_rupees('h.paise')}, h.n::int,
                   '>= ' || %(count)s || ' payments or >= Rs ' || %(amount)s::text || ' in ' || %(minutes)s || ' min',
                   {_evidence()}
            FROM h JOIN {STAGE} s ON s.client_id = h.client_id AND {bucket} = h.b
            GROUP BY h.client_id, h.b, h.n, h.paise""",
            minutes=r.window_minutes, count=r.threshold_count, amount=r.threshold_amount, paise=_paise(r.threshold_amount))

    def merchant_month(code, hits_where, row_filter, observed_paise, observed_count, threshold_text, extra="",
                       joins="", **params):
        # Evidence: the merchant's largest matching payments, read through the stage's
        # (client_id, paise DESC) index: no sort of the merchant's whole month.
        add(code, f"""
            WITH h AS (SELECT * FROM {MERCHANTS} m {joins} WHERE {hits_where})
            SELECT '{code}', 'MERCHANT', h.client_id::text, h.client_code, {month_window}, h.client_id, h.client_code,
                   {_rupees(f'h.{observed_paise}')}, h.{observed_count}::int, {threshold_text},
                   jsonb_build_object('txn_ids', to_jsonb(e.ids), 'amounts', to_jsonb(e.amounts), 'txn_count', h.{observed_count},
                                      'total_amount', {_rupees(f'h.{observed_paise}')}::text{extra})
            FROM h CROSS JOIN LATERAL (
                SELECT array_agg(x.txn_id ORDER BY x.paise DESC, x.txn_id) AS ids,
                       array_agg({_rupees('x.paise')}::text ORDER BY x.paise DESC, x.txn_id) AS amounts
                FROM (SELECT s.txn_id, s.paise FROM {STAGE} s WHERE s.client_id = h.client_id {('AND ' + row_filter) if row_filter else ''}
                      ORDER BY s.paise DESC, s.txn_id LIMIT {EVIDENCE_CAP}) x) e""", **params)

    if (r := rules.get(RuleCode.CASH_MONTHLY)) is not None:
        merchant_month(RuleCode.CASH_MONTHLY, "m.cash_paise > %(paise)s", "s.payment_mode = ANY(%(modes)s)", "cash_paise",
                       "cash_n", "'monthly cash total > Rs ' || %(amount)s::text",
                       amount=r.threshold_amount, paise=_paise(r.threshold_amount), modes=_cash_modes(rules))
    if (r := rules.get(RuleCode.REFUND_RATIO)) is not None:
        merchant_month(RuleCode.REFUND_RATIO, "m.n >= %(min)s AND m.paise > 0 AND m.refund_paise::numeric / m.paise > %(ratio)s",
                       "s.refund_paise > 0", "refund_paise", "refund_n",
                       "'refunded / received > ' || %(ratio)s::text || ' (min ' || %(min)s || ' payments)'",
                       extra=", 'received_amount', " + _rupees("h.paise") + "::text, 'ratio', "
                             "round(h.refund_paise::numeric / h.paise, 4)::text",
                       ratio=r.threshold_ratio, min=r.min_count)  # fmt: skip
    if (r := rules.get(RuleCode.CHARGEBACK_RATIO)) is not None:
        merchant_month(RuleCode.CHARGEBACK_RATIO, "m.n >= %(min)s AND m.cb_n::numeric / m.n > %(ratio)s", "s.is_cb",
                       "cb_paise", "cb_n", "'chargebacks / payments > ' || %(ratio)s::text || ' (min ' || %(min)s || ' payments)'",
                       extra=", 'payments', h.n, 'ratio', round(h.cb_n::numeric / h.n, 4)::text",
                       ratio=r.threshold_ratio, min=r.min_count)
    if (r := rules.get(RuleCode.UNUSUAL_HOURS)) is not None:
        merchant_month(RuleCode.UNUSUAL_HOURS, "m.night_n >= %(min)s AND m.night_n::numeric / m.n > %(ratio)s",
                       f"{_night_sql(rules)}", "night_paise", "night_n",
                       "'night share > ' || %(ratio)s::text || ' with >= ' || %(min)s || ' night payments'",
                       extra=", 'payments', h.n, 'night_share', round(h.night_n::numeric / h.n, 4)::text",
                       ratio=r.threshold_ratio, min=r.min_count)
    if RuleCode.MERCHANT_FLAGGED in rules:
        merchant_month(RuleCode.MERCHANT_FLAGGED,
                       "c.client_disable_flag IS TRUE OR c.is_whitelisted IS FALSE OR c.active IS FALSE", "", "paise", "n",
                       "'merchant disabled / not whitelisted / inactive'",
                       joins=f"JOIN (SELECT client_id AS cid, client_disable_flag, is_whitelisted, active FROM {core_table('client_data_table')}) c ON c.cid = m.client_id",
                       extra=", 'client_disable_flag', h.client_disable_flag, 'is_whitelisted', h.is_whitelisted, 'active', h.active")  # fmt: skip
    if RuleCode.KYC_NOT_APPROVED in rules:
        merchant_month(RuleCode.KYC_NOT_APPROVED, "k.status IS DISTINCT FROM 'APPROVED'", "", "paise", "n",
                       "'KYC status must be APPROVED'",
                       joins=f"LEFT JOIN (SELECT client_id AS kid, status FROM {MerchantKyc._meta.db_table}) k ON k.kid = m.client_id",
                       extra=", 'kyc_status', coalesce(h.status, 'MISSING')")
    if (r := rules.get(RuleCode.VOLUME_SPIKE)) is not None:
        days = int(r.params.get("baseline_days", 30))
        add(RuleCode.VOLUME_SPIKE, f"""
            WITH d AS (
                SELECT v.client_id, v.day, v.amount,
                       coalesce(sum(v.amount) OVER w, 0) AS total, count(*) OVER w AS days
                FROM {MerchantDailyVolume._meta.db_table} v
                WHERE v.client_id IN (SELECT client_id FROM {MERCHANTS})
                  AND v.day >= %(month_start)s::date - %(days)s AND v.day < %(month_end)s
                WINDOW w AS (PARTITION BY v.client_id ORDER BY v.day
                             RANGE BETWEEN make_interval(days => %(days)s) PRECEDING AND interval '1 day' PRECEDING)
            ), h AS (
                SELECT d.*, m.client_code FROM d JOIN {MERCHANTS} m ON m.client_id = d.client_id
                WHERE d.day >= %(month_start)s AND d.day < %(month_end)s AND d.amount >= %(floor)s
                  AND d.days >= %(min)s AND d.amount > %(ratio)s * d.total / %(days)s)
            SELECT 'VOLUME_SPIKE', 'MERCHANT', h.client_id::text, h.client_code, 'day@' || h.day::text,
                   {aware_sql('h.day::timestamp')}, {aware_sql("(h.day + 1)::timestamp")}, h.client_id, h.client_code,
                   h.amount, count(*)::int, 'day amount > ' || %(ratio)s::text || ' x own ' || %(days)s || '-day average',
                   {_evidence(", 'baseline_daily_average', round(min(h.total) / %(days)s, 2)::text, 'baseline_active_days', min(h.days)")}
            FROM h JOIN {STAGE} s ON s.client_id = h.client_id AND s.minute / 1440 = h.day - date '1970-01-01'
            GROUP BY h.client_id, h.client_code, h.day, h.amount""",
            ratio=r.threshold_ratio, days=days, min=r.min_count, floor=r.threshold_amount)
    return out


def _cash_modes(rules: dict[str, Rule]) -> list[str]:
    rule = rules.get(RuleCode.CASH_MONTHLY)
    return list(rule.params.get("payment_modes", ["Challan"])) if rule else ["Challan"]


def _night_sql(rules: dict[str, Rule]) -> str:
    rule = rules.get(RuleCode.UNUSUAL_HOURS)
    params = rule.params if rule else {}
    h0, h1 = int(params.get("night_start_hour", 0)), int(params.get("night_end_hour", 5))
    # Integer arithmetic on the staged minute number (IST): extract() returns numeric, far slower.
    return f"((s.minute / 60) %% 24 >= {h0} AND (s.minute / 60) %% 24 < {h1})"


def _merchant_totals(cursor, rules: dict[str, Rule]) -> None:
    """One pass over the stage, grouped by merchant and day: the daily baseline rows (upserted) and,
    summed from those few thousand rows, every per-merchant monthly figure the merchant rules compare."""
    night = _night_sql(rules)
    cursor.execute(f"DROP TABLE IF EXISTS {MERCHANTS}")
    cursor.execute(
        f"""
        CREATE TEMP TABLE compliance_scan_days ON COMMIT DROP AS
        SELECT s.client_id, date '1970-01-01' + (s.minute / 1440)::int AS day, min(s.client_code) AS client_code, count(*) AS n, sum(s.paise) AS paise,
               count(*) FILTER (WHERE s.payment_mode = ANY(%(cash)s)) AS cash_n,
               coalesce(sum(s.paise) FILTER (WHERE s.payment_mode = ANY(%(cash)s)), 0) AS cash_paise,
               count(*) FILTER (WHERE s.refund_paise > 0) AS refund_n, sum(s.refund_paise) AS refund_paise,
               count(*) FILTER (WHERE s.is_cb) AS cb_n, coalesce(sum(s.paise) FILTER (WHERE s.is_cb), 0) AS cb_paise,
               count(*) FILTER (WHERE {night}) AS night_n, coalesce(sum(s.paise) FILTER (WHERE {night}), 0) AS night_paise
        FROM {STAGE} s WHERE s.client_id IS NOT NULL GROUP BY s.client_id, s.minute / 1440
        """,
        {"cash": _cash_modes(rules)},
    )
    cursor.execute(
        f"""
        INSERT INTO {MerchantDailyVolume._meta.db_table} (client_id, day, txn_count, amount)
        SELECT d.client_id, d.day, d.n, {_rupees('d.paise')} FROM compliance_scan_days d
        ON CONFLICT (client_id, day) DO UPDATE SET txn_count = EXCLUDED.txn_count, amount = EXCLUDED.amount
        """
    )
    cursor.execute(
        f"""
        CREATE TEMP TABLE {MERCHANTS} ON COMMIT DROP AS
        SELECT d.client_id, min(d.client_code) AS client_code, sum(d.n) AS n, sum(d.paise) AS paise,
               sum(d.cash_n) AS cash_n, sum(d.cash_paise) AS cash_paise, sum(d.refund_n) AS refund_n,
               sum(d.refund_paise) AS refund_paise, sum(d.cb_n) AS cb_n, sum(d.cb_paise) AS cb_paise,
               sum(d.night_n) AS night_n, sum(d.night_paise) AS night_paise
        FROM compliance_scan_days d GROUP BY d.client_id
        """
    )
    cursor.execute("DROP TABLE compliance_scan_days")


_COLUMNS = ("rule_code, entity_type, entity_key, entity_display, window_key, window_start, window_end, client_id, "
            "client_code, observed_amount, observed_count, threshold, evidence")  # fmt: skip


def upsert_candidates(cursor, candidates_sql: str, params: dict, *, refresh: bool = True) -> tuple[int, int]:
    """Insert alert candidates; returns (created, refreshed). See the module docstring for the rules."""
    alerts, audit, rules = Alert._meta.db_table, AuditEntry._meta.db_table, Rule._meta.db_table
    on_conflict = (
        "DO UPDATE SET observed_amount = EXCLUDED.observed_amount, observed_count = EXCLUDED.observed_count, "
        "evidence = EXCLUDED.evidence, updated_at = EXCLUDED.updated_at "
        f"WHERE ({alerts}.observed_amount, {alerts}.observed_count) IS DISTINCT FROM (EXCLUDED.observed_amount, EXCLUDED.observed_count)"
        if refresh else "DO NOTHING"
    )
    cursor.execute(
        f"""
        WITH ins AS (
            INSERT INTO {alerts} ({_COLUMNS}, severity, status, resolution, str_grounds, str_reference, created_at, updated_at)
            SELECT c.*, r.severity, 'OPEN', '', '', '', now(), now()
            FROM ({candidates_sql}) AS c ({_COLUMNS})
            JOIN {rules} r ON r.code = c.rule_code
            WHERE NOT EXISTS (SELECT 1 FROM {alerts} a WHERE a.rule_code = c.rule_code AND a.entity_key = c.entity_key
                              AND a.window_key = c.window_key AND a.status IN ('RESOLVED', 'STR_FILED'))
            ON CONFLICT (rule_code, entity_key, window_key) WHERE status IN ('OPEN', 'UNDER_REVIEW', 'ESCALATED')
            {on_conflict}
            RETURNING id, (xmax = 0) AS created, rule_code, threshold
        ), aud AS (
            INSERT INTO {audit} (object_type, object_id, action, actor_id, changes, at)
            SELECT 'alert', ins.id, 'raised', NULL, jsonb_build_object('rule', ins.rule_code, 'threshold', ins.threshold), now()
            FROM ins WHERE ins.created
        )
        SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM ins
        """,
        params,
    )
    created, refreshed = cursor.fetchone()
    return created, refreshed


def stage_month(cursor, *, month_start: dt.date, month_end: dt.date, client_codes: list[str] | None = None,
                progress: Callable[[str], None] | None = None) -> int:
    """Copy the month's received payments (narrow) into a temp table dropped at commit. One core pass."""
    clock = time.perf_counter()
    client_filter = "AND t.client_code = ANY(%(codes)s)" if client_codes is not None else ""
    # Dropped explicitly too: a scan nested in an outer transaction would otherwise find the
    # previous scan's table still there.
    cursor.execute(f"DROP TABLE IF EXISTS {STAGE}")
    cursor.execute(
        f"""
        CREATE TEMP TABLE {STAGE} ON COMMIT DROP AS
        SELECT x.*, hashtext(x.payer) AS payer_h FROM (
            SELECT t.txn_id, t.client_id, t.client_code, t.trans_date AS ts, {paise_sql('t.paid_amount')} AS paise,
                   floor(date_part('epoch', t.trans_date) / 60)::bigint AS minute,
                   t.payment_mode, {identity_sql('t.vpa', 't.payee_email', 't.payee_mob')} AS payer,
                   coalesce({paise_sql('coalesce(t.refunded_amount, t.refund_amount)')}, 0) AS refund_paise,
                   coalesce(t.is_charge_back, false) AS is_cb
            FROM {core_table('transaction_detail')} t
            WHERE t.trans_date >= %(start)s AND t.trans_date < %(end)s AND t.paid_amount > 0 AND {received_sql('t')}
                  {client_filter}) x
        """,
        {"start": month_start, "end": month_end, "codes": client_codes},
    )
    staged = cursor.rowcount
    if progress:
        progress(f"core pass copied {staged:,} rows ({time.perf_counter() - clock:.2f}s)")
    # Evidence of merchant-wide rules = the merchant's largest payments, read off this index
    # (ties on the amount are ordered by txn_id in a small incremental sort). Integer keys only:
    # a text txn_id key made the build compare collated strings and widened every entry. The
    # build's sort gets room in memory (this transaction only).
    clock = time.perf_counter()
    cursor.execute("SELECT set_config('maintenance_work_mem', %s, true)",
                   [getattr(settings, "COMPLIANCE_SCAN_MAINTENANCE_WORK_MEM", "256MB")])
    cursor.execute(f"CREATE INDEX ON {STAGE} (client_id, paise DESC)")
    # Statistics for the planner's group and join estimates. A small sample (target 10 = 3,000
    # rows) is enough for these few, coarse columns and costs a fraction of the default 30,000.
    cursor.execute("SELECT current_setting('default_statistics_target')")
    target = cursor.fetchone()[0]
    cursor.execute("SELECT set_config('default_statistics_target', '10', true)")
    cursor.execute(f"ANALYZE {STAGE}")
    cursor.execute("SELECT set_config('default_statistics_target', %s, true)", [target])
    if progress:
        progress(f"evidence index and statistics ({time.perf_counter() - clock:.2f}s)")
    return staged


def _temp_buffers(cursor) -> None:
    """Room for the stage in local buffers (default 8MB: a busy month's stage would go through
    the OS file cache). PostgreSQL accepts this only before the session's first temp table, so a
    refusal (a later scan on a reused connection keeps the size it got first) is ignored."""
    try:
        with transaction.atomic():
            cursor.execute("SELECT set_config('temp_buffers', %s, true)",
                           [getattr(settings, "COMPLIANCE_SCAN_TEMP_BUFFERS", "256MB")])
    except DatabaseError:
        pass


@dataclasses.dataclass
class ScanResult:
    month: dt.date
    staged_rows: int
    created: dict[str, int]
    refreshed: dict[str, int]


@transaction.atomic
def scan_month(*, month: dt.date, client_codes: list[str] | None = None,
               progress: Callable[[str], None] | None = None) -> ScanResult:
    """Run every enabled windowed rule over one calendar month (optionally only some merchants)."""
    month_start, month_end = month_bounds(month)
    rules = {r.code: r for r in Rule.objects.filter(enabled=True)}
    result = ScanResult(month_start, 0, {}, {})
    clock = time.perf_counter()
    with connection.cursor() as cursor:
        # Per-window groups number in the hundreds of thousands on a busy month: give the hash
        # aggregates and evidence sorts room so they do not spill to disk (this transaction only).
        cursor.execute("SELECT set_config('work_mem', %s, true)", [getattr(settings, "COMPLIANCE_SCAN_WORK_MEM", "256MB")])
        # JIT compiling the scan's long CASE expressions costs more than it saves on one month.
        cursor.execute("SELECT set_config('jit', 'off', true)")
        _temp_buffers(cursor)
        result.staged_rows = stage_month(cursor, month_start=month_start, month_end=month_end, client_codes=client_codes,
                                         progress=progress)
        if progress:
            progress(f"staged {result.staged_rows:,} received payments of {month_start:%Y-%m} ({time.perf_counter() - clock:.2f}s)")
        _merchant_totals(cursor, rules)
        if progress:
            progress(f"merchant and daily totals ({time.perf_counter() - clock:.2f}s since start)")
        for code, sql, params in _rule_queries(rules, f"{month_start:%Y-%m}", month_start, month_end):
            clock = time.perf_counter()
            if code == RuleCode.VOLUME_SPIKE:
                # The daily table's estimates are poor mid-scan; a nested loop through the stage index
                # per spike day reads each merchant's month again and again. One hash join reads it once.
                cursor.execute("SELECT set_config('enable_nestloop', 'off', true)")
            result.created[code], result.refreshed[code] = upsert_candidates(cursor, sql, params)
            cursor.execute("SELECT set_config('enable_nestloop', 'on', true)")
            if progress:
                progress(f"{code}: {result.created[code]} new, {result.refreshed[code]} refreshed ({time.perf_counter() - clock:.2f}s)")
        cursor.execute(f"DROP TABLE {STAGE}, {MERCHANTS}")
    return result

