"""Windowed rules as set-based SQL over one month of transaction_detail.

One pass over the core copies the month's received payments (narrow columns, per-row flags)
into a temp table, the stage. Every group figure then comes from a few aggregate passes over
it, and one more pass keeps only the rows some alert can cite (the hits table), so that each
rule builds its alerts' evidence from a few thousand rows instead of the whole month (see
docs/compliance.md, "How detection runs"). Each rule upserts its alerts in one statement: new
(rule, entity, window) keys are inserted, open alerts get their figures refreshed, and a key
whose alert was already closed is not raised again (an operator's decision sticks).
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

from ..models import Alert, AuditEntry, Rule, RuleCode
from . import windows
from .sqlbits import identity_sql, paise_sql, received_sql

STAGE = "compliance_scan_stage"
EVIDENCE_CAP = windows.EVIDENCE_CAP

# Per-row flags of the stage (bits of `flags`) are computed once in the (parallel) core pass so
# that the aggregates test a bit instead of re-evaluating text comparisons row by row.
CASH, REFUNDED, CHARGEBACK, NIGHT = windows.CASH, windows.REFUNDED, windows.CHARGEBACK, windows.NIGHT


def _cash_modes(rules: dict[str, Rule]) -> list[str]:
    rule = rules.get(RuleCode.CASH_MONTHLY)
    return list(rule.params.get("payment_modes", ["Challan"])) if rule else ["Challan"]


def _cross_border_modes(rules: dict[str, Rule]) -> list[str]:
    rule = rules.get(RuleCode.CROSS_BORDER)
    return list(rule.params.get("payment_modes", ["International Card"])) if rule else ["International Card"]


def _night_hours(rules: dict[str, Rule]) -> tuple[int, int]:
    rule = rules.get(RuleCode.UNUSUAL_HOURS)
    params = rule.params if rule else {}
    return int(params.get("night_start_hour", 0)), int(params.get("night_end_hour", 5))


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


def stage_month(cursor, rules: dict[str, Rule], *, month_start: dt.date, month_end: dt.date,
                client_codes: list[str] | None = None) -> int:
    """Copy the month's received payments (narrow) into a temp table dropped at commit. One core pass.

    Everything computed per row is computed here, where PostgreSQL runs the expressions in
    parallel workers; the later passes over the temp table run in one process only. The outer
    SELECT is flattened into the inner one, so each inner column it uses more than once is
    computed more than once: only cheap ones are (the payer identity is used once).
    """
    client_filter = "AND t.client_code = ANY(%(codes)s)" if client_codes is not None else ""
    night_start, night_end = _night_hours(rules)
    # Dropped explicitly too: a scan nested in an outer transaction would otherwise find the
    # previous scan's table still there.
    cursor.execute(f"DROP TABLE IF EXISTS {STAGE}")
    cursor.execute(
        f"""
        CREATE TEMP TABLE {STAGE} ON COMMIT DROP AS
        SELECT x.txn_id, x.client_id, x.client_code, x.ts, x.paise, x.minute, x.payment_mode, x.payer, x.refund_paise,
               ((CASE WHEN x.payment_mode = ANY(%(cash)s) THEN {CASH} ELSE 0 END)
                | (CASE WHEN x.refund_paise > 0 THEN {REFUNDED} ELSE 0 END)
                | (CASE WHEN x.is_cb THEN {CHARGEBACK} ELSE 0 END)
                | (CASE WHEN x.hour = ANY(%(night)s::int[]) THEN {NIGHT} ELSE 0 END))::smallint AS flags,
               coalesce(x.payment_mode = ANY(%(cross_border)s), false) AS cross_border
        FROM (
            SELECT t.txn_id, t.client_id, t.client_code, t.trans_date AS ts, {paise_sql('t.paid_amount')} AS paise,
                   -- Minutes since 1970 in India time (the core's naive timestamps): window buckets
                   -- are integer divisions of it.
                   floor(date_part('epoch', t.trans_date) / 60)::int AS minute, date_part('hour', t.trans_date)::int AS hour,
                   t.payment_mode, {identity_sql('t.vpa', 't.payee_email', 't.payee_mob')} AS payer,
                   coalesce({paise_sql('coalesce(t.refunded_amount, t.refund_amount)')}, 0) AS refund_paise,
                   coalesce(t.is_charge_back, false) AS is_cb
            FROM {core_table('transaction_detail')} t
            WHERE t.trans_date >= %(start)s AND t.trans_date < %(end)s AND t.paid_amount > 0 AND {received_sql('t')}
                  {client_filter}) x
        """,
        {"start": month_start, "end": month_end, "codes": client_codes, "cash": _cash_modes(rules),
         "cross_border": _cross_border_modes(rules), "night": list(range(night_start, night_end))},
    )
    staged = cursor.rowcount
    cursor.execute(f"ANALYZE {STAGE}")
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

    def step(message: str) -> None:
        nonlocal clock
        if progress:
            progress(f"{message} ({time.perf_counter() - clock:.2f}s)")
        clock = time.perf_counter()

    with connection.cursor() as cursor:
        # Per-window groups number in the hundreds of thousands on a busy month: give the hash
        # aggregates room so they do not spill to disk (this transaction only).
        cursor.execute("SELECT set_config('work_mem', %s, true)", [getattr(settings, "COMPLIANCE_SCAN_WORK_MEM", "256MB")])
        # JIT compiling the scan's long CASE expressions costs more than it saves on one month.
        cursor.execute("SELECT set_config('jit', 'off', true)")
        # Statistics of the scan's temp tables, for the planner's group and join estimates: a
        # small sample (target 10 = 3,000 rows) is enough for their few, coarse columns and costs
        # a fraction of the default 30,000.
        cursor.execute("SELECT set_config('default_statistics_target', '10', true)")
        _temp_buffers(cursor)
        result.staged_rows = stage_month(cursor, rules, month_start=month_start, month_end=month_end,
                                         client_codes=client_codes)
        step(f"core pass staged {result.staged_rows:,} received payments of {month_start:%Y-%m}")
        plan = windows.ScanPlan(rules=rules, stage=STAGE, month_start=month_start, month_end=month_end)
        windows.find_groups(cursor, plan, step)
        windows.collect_hits(cursor, plan)
        step(f"hits table: {plan.hit_rows:,} rows any alert can cite")
        for code, sql, params in windows.rule_queries(plan):
            if sql is None:
                result.created[code], result.refreshed[code] = 0, 0
                continue
            result.created[code], result.refreshed[code] = upsert_candidates(cursor, sql, params)
            step(f"{code}: {result.created[code]} new, {result.refreshed[code]} refreshed")
        windows.drop_tables(cursor, plan)
        cursor.execute(f"DROP TABLE {STAGE}")
    return result
