"""Windowed rules as set-based SQL over one month of transaction_detail.

One pass over the core copies the month's received payments (narrow columns, per-row flags)
into a table, the stage (temp, or unlogged when a second connection shares the work: see
_scan_concurrent). Every group figure then comes from a few aggregate passes over
it, and one more pass keeps only the rows some alert can cite (the hits table), so that each
rule builds its alerts' evidence from a few thousand rows instead of the whole month (see
docs/compliance.md, "How detection runs"). Each rule upserts its alerts in one statement: new
(rule, entity, window) keys are inserted, open alerts get their figures refreshed, and a key
whose alert was already closed is not raised again (an operator's decision sticks).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError, connection, connections, transaction

from core_legacy.sql import core_table
from enhancements.platform.sql_session import prefer_parallel, small_statistics_sample
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


_COLUMNS = windows.CANDIDATE_COLUMNS


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
                client_codes: list[str] | None = None, table: str = STAGE, unlogged: bool = False) -> int:
    """Copy the month's received payments (narrow) into a temp table dropped at commit (or, with
    `unlogged`, a new unlogged table the caller drops: see _scan_concurrent). One core pass.

    Everything computed per row is computed here, where PostgreSQL runs the expressions in
    parallel workers; the later passes over a temp table run in one process only. The outer
    SELECT is flattened into the inner one, so each inner column it uses more than once is
    computed more than once: only cheap ones are (the payer identity is used once).
    """
    client_filter = "AND t.client_code = ANY(%(codes)s)" if client_codes is not None else ""
    night_start, night_end = _night_hours(rules)
    if unlogged:
        create = f"CREATE UNLOGGED TABLE {table}"
    else:
        # Dropped explicitly too: a scan nested in an outer transaction would otherwise find the
        # previous scan's table still there.
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        create = f"CREATE TEMP TABLE {table} ON COMMIT DROP"
    cursor.execute(
        f"""
        {create} AS
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
    cursor.execute(f"ANALYZE {table}")
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


def _session_settings(cursor) -> None:
    """Settings of this transaction only (set_config(..., true)) for the scan's statements."""
    # Per-window groups number in the hundreds of thousands on a busy month: give the hash
    # aggregates room so they do not spill to disk.
    cursor.execute("SELECT set_config('work_mem', %s, true)", [getattr(settings, "COMPLIANCE_SCAN_WORK_MEM", "256MB")])
    # JIT compiling the scan's long CASE expressions costs more than it saves on one month.
    cursor.execute("SELECT set_config('jit', 'off', true)")
    # Statistics of the scan's temp tables, for the planner's group and join estimates.
    small_statistics_sample(cursor)


def _stepper(progress: Callable[[str], None] | None) -> Callable[[str], None]:
    clock = time.perf_counter()

    def step(message: str) -> None:
        nonlocal clock
        if progress:
            progress(f"{message} ({time.perf_counter() - clock:.2f}s)")
        clock = time.perf_counter()

    return step


def _raise_alerts(cursor, plan: windows.ScanPlan, result: ScanResult, step: Callable[[str], None], *,
                 only: Callable[[str], bool] = lambda code: True) -> None:
    for code, sql, params in windows.rule_queries(plan):
        if not only(code):
            continue
        if sql is None:
            result.created[code], result.refreshed[code] = 0, 0
            continue
        result.created[code], result.refreshed[code] = upsert_candidates(cursor, sql, params)
        step(f"{code}: {result.created[code]} new, {result.refreshed[code]} refreshed")


def scan_month(*, month: dt.date, client_codes: list[str] | None = None,
               progress: Callable[[str], None] | None = None) -> ScanResult:
    """Run every enabled windowed rule over one calendar month (optionally only some merchants).

    A whole-month scan started outside any transaction (beat, the command, the benchmark) runs
    on two connections (_scan_concurrent); inside a caller's transaction, or for a few
    merchants (the refund / chargeback re-scans), on this connection alone with temp tables.
    Both give the same alerts and daily rows; the scan's writes are one transaction either way.
    """
    month_start, month_end = month_bounds(month)
    rules = {r.code: r for r in Rule.objects.filter(enabled=True)}
    if (client_codes is None and not connection.in_atomic_block and connection.vendor == "postgresql"
            and getattr(settings, "COMPLIANCE_SCAN_CONCURRENT", True)):
        return _scan_concurrent(rules, month_start, month_end, _stepper(progress))
    with transaction.atomic():
        return _scan(rules, month_start, month_end, client_codes, _stepper(progress))


def _scan(rules: dict[str, Rule], month_start: dt.date, month_end: dt.date, client_codes: list[str] | None,
          step: Callable[[str], None]) -> ScanResult:
    result = ScanResult(month_start, 0, {}, {})
    with connection.cursor() as cursor:
        _session_settings(cursor)
        _temp_buffers(cursor)
        result.staged_rows = stage_month(cursor, rules, month_start=month_start, month_end=month_end,
                                         client_codes=client_codes)
        step(f"core pass staged {result.staged_rows:,} received payments of {month_start:%Y-%m}")
        plan = windows.ScanPlan(rules=rules, stage=STAGE, month_start=month_start, month_end=month_end)
        windows.find_groups(cursor, plan, step)
        windows.collect_hits(cursor, plan)
        step(f"hits table: {plan.hit_rows:,} rows any alert can cite")
        _raise_alerts(cursor, plan, result, step)
        windows.drop_tables(cursor, plan)
        cursor.execute(f"DROP TABLE {STAGE}")
    return result


class _Payers(threading.Thread):
    """Builds VELOCITY_PAYER's tables (windows.payer_side: the candidate payers, the scan's
    largest aggregate, then their rows, their windows and the rule's alert candidates) as
    unlogged tables on a connection of its own, while the scan's connection works on every other
    rule. It writes nothing but those tables; the scan's connection inserts the alerts."""

    def __init__(self, plan: windows.ScanPlan) -> None:
        super().__init__(name="compliance-scan-payers", daemon=True)
        # Its own plan (the same names), so that its `found` counts are merged only once it is done.
        self.plan, self.error = dataclasses.replace(plan, found={}), None

    def run(self) -> None:
        # A thread gets its own connection from Django's per-thread handler; closed when done.
        own = connections["default"]
        try:
            with transaction.atomic(using=own.alias), own.cursor() as cursor:
                _session_settings(cursor)
                windows.payer_side(cursor, self.plan, unlogged=True)
        except BaseException as exc:  # re-raised by the scan's thread (join)
            self.error = exc
        finally:
            own.close()

    def result(self) -> dict[str, int]:
        self.join()
        if self.error is not None:
            raise self.error
        return self.plan.found


# Unlogged tables of the concurrent path: compliance_scan_<what>_p<backend pid of the scan's
# connection>_<random>. The pid lets a later scan drop the tables of one whose process was killed
# before its `finally` ran (_drop_orphans); a live scan's backend is in pg_stat_activity.
_UNLOGGED_NAME = r"^compliance_scan_[a-z_]+_p([0-9]+)_[0-9a-f]{12}$"


def _drop_orphans(cursor) -> None:
    cursor.execute(
        """SELECT c.oid::regclass::text FROM pg_class c
           WHERE c.relkind = 'r' AND c.relpersistence = 'u' AND c.relname ~ %(name)s
             AND substring(c.relname from %(name)s)::int NOT IN (SELECT a.pid FROM pg_stat_activity a)""",
        {"name": _UNLOGGED_NAME},
    )
    for (table,) in cursor.fetchall():
        cursor.execute(f"DROP TABLE IF EXISTS {table}")


def _scan_concurrent(rules: dict[str, Rule], month_start: dt.date, month_end: dt.date,
                     step: Callable[[str], None]) -> ScanResult:
    """The whole-month scan on two connections: after the core pass every step runs in one
    process, and on two cores VELOCITY_PAYER's side (the candidate payers, the largest
    aggregate, then their rows and windows) costs about as much as all the other rules together.

    The stage is an unlogged table (a temp table is private to its session, and cannot be read
    by parallel workers) under a name of this scan's own, committed before the second connection
    reads it. That connection then builds VELOCITY_PAYER's tables and alert candidates
    (windows.payer_side) as unlogged tables, while this one builds the parts, daily rows,
    merchant figures, spike days, cutoffs and the hits table (in parallel workers) and raises
    every other rule's alerts; then it waits for the second connection and inserts
    VELOCITY_PAYER's candidates. The scan's writes (daily rows, alerts, audit entries) are one
    transaction on this connection, as in _scan. The unlogged tables are dropped at the end,
    whether the scan succeeded or not.
    """
    with connection.cursor() as cursor:
        _drop_orphans(cursor)
        cursor.execute("SELECT pg_backend_pid()")
        token = f"p{cursor.fetchone()[0]}_{uuid.uuid4().hex[:12]}"
    plan = windows.ScanPlan(rules=rules, stage=f"{STAGE}_{token}", month_start=month_start, month_end=month_end)
    unlogged = [plan.stage]
    helper = None
    if RuleCode.VELOCITY_PAYER in rules:
        plan.payers, plan.payer_hits = f"{windows.PAYERS}_{token}", f"{windows.PAYER_HITS}_{token}"
        plan.payer_windows, plan.payer_alerts = f"{windows.PAYER_WINDOWS}_{token}", f"{windows.PAYER_ALERTS}_{token}"
        unlogged += [plan.payers, plan.payer_hits, plan.payer_windows, plan.payer_alerts]
        helper = _Payers(plan)
    result = ScanResult(month_start, 0, {}, {})
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            _session_settings(cursor)
            result.staged_rows = stage_month(cursor, rules, month_start=month_start, month_end=month_end,
                                             table=plan.stage, unlogged=True)
        step(f"core pass staged {result.staged_rows:,} received payments of {month_start:%Y-%m}")
        if helper is not None:
            helper.start()
        with transaction.atomic(), connection.cursor() as cursor:
            _session_settings(cursor)
            _temp_buffers(cursor)
            # The parts aggregate and the hits pass read the unlogged stage and can run in
            # parallel workers; the planner declines both at the default costs (it prices moving
            # partial groups / rows out of the workers above scanning alone, estimating that most
            # of the month passes the hits pass's ORed tests where ~6 % do). Measured: parts
            # 0.6-0.85 s against 0.83-0.93 s serial, hits 0.19 s against 0.3 s (1M rows, loaded).
            # The other statements of this transaction write, or read temp tables: never parallel.
            prefer_parallel(cursor)
            windows.find_groups(cursor, plan, step, payers=False)
            windows.collect_hits(cursor, plan)
            step(f"hits table: {plan.hit_rows:,} rows any alert can cite")
            _raise_alerts(cursor, plan, result, step, only=lambda code: code != RuleCode.VELOCITY_PAYER)
            if helper is not None:
                plan.found.update(helper.result())
                step("candidate payers, their rows, windows and alerts (second connection)")
                _raise_alerts(cursor, plan, result, step, only=lambda code: code == RuleCode.VELOCITY_PAYER)
                # In the rules' order, as the one-connection scan gives them.
                order = [code for code, _, _ in windows.rule_queries(plan)]
                result.created = {code: result.created[code] for code in order}
                result.refreshed = {code: result.refreshed[code] for code in order}
            windows.drop_tables(cursor, plan)
    except BaseException:
        # The scan's own error is the one to report; if the connection is gone as well, the
        # tables are left to the next scan's _drop_orphans.
        _drop_unlogged(helper, unlogged, quiet=True)
        raise
    _drop_unlogged(helper, unlogged)
    return result


def _drop_unlogged(helper: _Payers | None, tables: list[str], *, quiet: bool = False) -> None:
    if helper is not None and helper.ident is not None:
        helper.join()  # its table must exist (or its statement have failed) before the drop
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {', '.join(tables)}")
    except DatabaseError:
        if not quiet:
            raise
