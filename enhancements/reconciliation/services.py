"""Every write of the reconciliation app: runs, their results and mismatches, the workflow."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from enhancements.events.outbox import NewEvent, publish_many
from enhancements.platform.sql_session import prefer_parallel, small_statistics_sample

from . import matching, storage
from .core_window import prepare_core_window
from .importing import DuplicateFileError, RejectedFileError, settlement_file_import  # noqa: F401 (re-exported)
from .models import Mismatch, MismatchEvent, ReconciliationRule, ReconciliationRun, SettlementFile

MISMATCHES = connection.ops.quote_name(Mismatch._meta.db_table)
HISTORY = connection.ops.quote_name(MismatchEvent._meta.db_table)
OPERATOR_RESOLUTIONS = [r for r in Mismatch.Resolution.values if r != Mismatch.Resolution.CLEARED_ON_RERUN]


class ReconciliationError(Exception):
    """A run cannot start (file not imported, no rules, no date window...)."""


def applicable_rules(source: str) -> list[ReconciliationRule]:
    rules = ReconciliationRule.objects.filter(active=True).order_by("priority", "id")
    return [r for r in rules if not r.sources or source in r.sources]


@transaction.atomic
def reconciliation_run_create(*, file: SettlementFile, started_by=None, dry_run: bool = False) -> ReconciliationRun:
    if file.status != SettlementFile.Status.IMPORTED:
        raise ReconciliationError(f"file #{file.pk} is {file.status}, not imported: nothing to reconcile")
    return ReconciliationRun.objects.create(file=file, started_by=started_by, dry_run=dry_run, started_at=timezone.now())


def reconciliation_run_execute(
    *, run: ReconciliationRun, window: tuple[dt.date, dt.date] | None = None
) -> ReconciliationRun:
    """Run (or re-run: its own results are replaced, never duplicated) the matching.

    `window` (first, last India date, inclusive) is needed only when the file's lines carry
    no dates. A failed run keeps nothing but its error.
    """
    try:
        return _execute(run_id=run.pk, window=window)
    except Exception as exc:
        ReconciliationRun.objects.filter(pk=run.pk).update(
            status=ReconciliationRun.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:4000], finished_at=timezone.now()
        )
        raise


@transaction.atomic
def _execute(*, run_id: int, window: tuple[dt.date, dt.date] | None) -> ReconciliationRun:
    run = ReconciliationRun.objects.select_for_update().select_related("file").get(pk=run_id)
    file = run.file
    if file.status != SettlementFile.Status.IMPORTED:
        raise ReconciliationError(f"file #{file.pk} is {file.status}, not imported")
    rules = applicable_rules(file.source)
    if not rules:
        raise ReconciliationError(f"no active reconciliation rule applies to source {file.source!r}")
    first, last = window or (file.first_date, file.last_date)
    if first is None or last is None:
        raise ReconciliationError("the file's lines carry no dates: give the run a date window")
    if first > last:
        raise ReconciliationError(f"the window starts ({first}) after it ends ({last})")
    specs = [matching.RuleSpec.of(r) for r in rules]
    # Look this far beyond the rules' drift so a line dated too far off is found (DATE),
    # not mistaken for one the core lacks.
    lookaround = getattr(settings, "RECONCILIATION_LOOKAROUND_DAYS", 7)
    drift = dt.timedelta(days=max(s.drift_days for s in specs) + lookaround)
    end = last + dt.timedelta(days=1)
    tz = settings.CORE_TIME_ZONE
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '256MB'")
        # Whole-set joins: the "still unpaired" anti-joins make the planner's row estimates
        # far too low (results of other runs skew them), and a nested loop of index probes
        # over a million lines is minutes instead of seconds. Hash joins are always right here.
        cursor.execute("SET LOCAL enable_nestloop = off")
        # Every statement of a run is a few whole-set scans and joins: at a million lines
        # their estimated cost crosses jit_above_cost / jit_optimize_above_cost, and
        # compiling (and optimising) the expressions costs more than it saves for a single
        # pass over the rows.
        cursor.execute("SET LOCAL jit = off")
        small_statistics_sample(cursor)
        # The run's tables are unlogged (matching.Scratch) or the run's own results partition,
        # which parallel workers can read. Measured at 1M: pairing 2.2 -> 1.4-1.65 s, leftover
        # lines 0.46 -> 0.29 s, MISSING_IN_BANK 0.70 -> 0.40 s.
        prefer_parallel(cursor)
    # A kept run's first execution pairs straight into its results partition; a re-run (the
    # partition exists: it replaces its rows at the end) and a dry run pair into scratch.
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NULL", [storage.results_partition(run.pk)])
        first_execution = cursor.fetchone()[0]
        lines = storage.file_lines(cursor, file.pk)
    scratch = matching.Scratch(run.pk, in_place=first_execution and not run.dry_run)
    core_window = (first - drift, end + drift)
    references = {s.reference for s in specs}
    if file.carried_references is None:  # imported before the import recorded them
        carried = matching.carried_references(file_id=file.pk, lines=lines, references=references)
    else:
        carried = references & set(file.carried_references)
    prepare_core_window(table=scratch.core, start=core_window[0], end=core_window[1], tz=tz, references=carried,
                        payment_mode=any(s.payment_modes for s in specs))
    summary: dict = {}
    with transaction.atomic():
        paired = matching.apply_rules(file_id=file.pk, lines=lines, rules=specs, tz=tz, carried=carried, t=scratch)
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS recon_new_mismatches")
            cursor.execute(matching.NEW_MISMATCHES_DDL)
        matching.stage_pair_mismatches(scratch)
        matching.stage_leftovers(
            file_id=file.pk, lines=lines, references=sorted({s.reference for s in specs}),
            unique_references=sorted({s.reference for s in specs if s.kind == ReconciliationRule.Kind.ONE_TO_ONE}),
            small_tables=paired.small_tables, t=scratch,
        )
        modes = None if any(not s.payment_modes for s in specs) else sorted({m for s in specs for m in s.payment_modes})
        matching.stage_missing_in_bank(start=first, end=end, modes=modes, tz=tz,
                                       other_runs=_overlapping_runs(run_id=run.pk, window=core_window), t=scratch)  # fmt: skip
        by_client = _matched_by_client(one_to_many=[s.id for s in specs if s.kind == ReconciliationRule.Kind.ONE_TO_MANY],
                                       pairs=scratch.pairs)
        summary = _summary(file=file, per_rule=paired.per_rule, rules=rules, by_client=by_client)
        summary["window"] = [first.isoformat(), last.isoformat()]
        summary["core_window"] = [core_window[0].isoformat(), core_window[1].isoformat()]
        if run.dry_run:
            # A dry run shows what would match and keeps nothing else.
            transaction.set_rollback(True)
        else:
            with connection.cursor() as cursor:
                storage.write_run_results(cursor, run.pk, scratch.pairs)
            _save_mismatches(run_id=run.pk)
            _publish_reconciled(run=run, by_client=by_client)
    # Before the run's transaction commits: no other session ever sees them.
    matching.drop_scratch(scratch, sorted({s.reference for s in specs}))
    run.summary = summary
    run.status = ReconciliationRun.Status.DONE
    run.error = ""
    run.attempts += 1
    run.finished_at = timezone.now()
    run.save(update_fields=["summary", "status", "error", "attempts", "finished_at"])
    return run


def _overlapping_runs(*, run_id: int, window: tuple[dt.date, dt.date]) -> list[int]:
    """Kept (not dry) runs whose core window overlaps `window` (runs from before the window was
    recorded count as overlapping): the only ones whose pairs can claim a core row in it.
    Whatever their status: a re-run that failed keeps its previous results and window, and a
    run that never finished has no results to read."""
    runs = ReconciliationRun.objects.filter(dry_run=False).exclude(pk=run_id)
    start, end = (d.isoformat() for d in window)
    overlapping = []
    for pk, summary in runs.values_list("pk", "summary"):
        bounds = (summary or {}).get("core_window")
        if not bounds or (bounds[0] < end and start < bounds[1]):
            overlapping.append(pk)
    return overlapping


class _ClientTotals:
    """The run's matched pairs per merchant (one pass over the pairs feeds the summary and the
    settlement.reconciled events): {client_id: [client_code, pairs, amount]}, plus how many
    pairs are a one_to_many line's second, third... transaction (lines = pairs - extra).

    `rows` come ordered by merchant and code (the database's collation), so a merchant's
    first non-empty code is what min(client_code) gives."""

    def __init__(self, rows, extra_pairs: int) -> None:
        self.clients: dict = {}
        for client_id, client_code, count, amount in rows:
            entry = self.clients.setdefault(client_id, [client_code, 0, Decimal(0)])
            if entry[0] is None:
                entry[0] = client_code
            entry[1] += count
            entry[2] += amount
        self.extra_pairs = extra_pairs

    @property
    def pairs(self) -> int:
        return sum(count for _, count, _ in self.clients.values())

    @property
    def amount(self) -> Decimal:
        return sum((amount for _, _, amount in self.clients.values()), Decimal(0))


def _matched_by_client(*, one_to_many: list[int], pairs: str) -> _ClientTotals:
    with connection.cursor() as cursor:
        # Grouped by code too, rather than min(client_code): comparing text per row cost more
        # than hashing it (a million pairs); the few groups are sorted, and folded in Python.
        cursor.execute(
            f"""SELECT client_id, client_code, count(*), sum(file_amount) FROM {pairs}
            WHERE outcome = 'MATCHED' GROUP BY client_id, client_code ORDER BY client_id, client_code"""
        )
        rows = cursor.fetchall()
        extra = 0
        if one_to_many:
            cursor.execute(
                f"""SELECT count(*) - count(DISTINCT entry_id) FROM {pairs}
                WHERE outcome = 'MATCHED' AND rule_id = ANY(%s)""",
                [one_to_many],
            )
            extra = cursor.fetchone()[0]
    return _ClientTotals(rows, extra)


def _summary(*, file: SettlementFile, per_rule: dict[int, int], rules, by_client: _ClientTotals) -> dict:
    transactions, amount = by_client.pairs, by_client.amount
    lines = transactions - by_client.extra_pairs
    with connection.cursor() as cursor:
        cursor.execute("SELECT type, count(*), coalesce(sum(amount), 0) FROM recon_new_mismatches GROUP BY type")
        by_type = {t: {"count": n, "amount": str(a)} for t, n, a in cursor.fetchall()}
    names = {r.pk: r.name for r in rules}
    return {
        "lines": file.rows_imported,
        "matched_lines": lines,
        "matched_transactions": transactions,
        "matched_amount": str(Decimal(amount).quantize(Decimal("0.01"))),
        "match_rate": round(lines / file.rows_imported, 4) if file.rows_imported else 0.0,
        "mismatches": {t: by_type.get(t, {"count": 0, "amount": "0.00"}) for t in Mismatch.Type.values},
        "pairs_by_rule": {names[k]: v for k, v in per_rule.items()},
    }


def _save_mismatches(*, run_id: int) -> None:
    """Upsert this run's mismatches; ones a re-run no longer finds go (or are closed, if worked on)."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {MISMATCHES} (run_id, fingerprint, type, entry_id, line_no, txn_id, client_id, client_code,
                   rule_id, amount, file_amount, core_amount, detail, state, resolution, created_at)
            SELECT %(run)s, fingerprint, type, entry_id, line_no, txn_id, client_id, client_code, rule_id, amount,
                   file_amount, core_amount, detail, 'OPEN', '', %(now)s
            FROM recon_new_mismatches
            ON CONFLICT (run_id, fingerprint) DO UPDATE SET
                entry_id = EXCLUDED.entry_id, rule_id = EXCLUDED.rule_id, amount = EXCLUDED.amount,
                file_amount = EXCLUDED.file_amount, core_amount = EXCLUDED.core_amount, detail = EXCLUDED.detail""",
            {"run": run_id, "now": now},
        )
        stale = """m.run_id = %(run)s AND NOT EXISTS (SELECT 1 FROM recon_new_mismatches n WHERE n.fingerprint = m.fingerprint)"""
        cursor.execute(
            f"DELETE FROM {MISMATCHES} m WHERE {stale} AND NOT EXISTS (SELECT 1 FROM {HISTORY} h WHERE h.mismatch_id = m.id)",
            {"run": run_id},
        )
        cursor.execute(
            f"""WITH closed AS (
                UPDATE {MISMATCHES} m SET state = 'RESOLVED', resolution = 'cleared_on_rerun', resolved_at = %(now)s
                WHERE {stale} AND m.state = 'OPEN' RETURNING m.id)
            INSERT INTO {HISTORY} (mismatch_id, actor_id, action, comment, changes, at)
            SELECT id, NULL, 'resolved', 'a re-run of the reconciliation no longer finds this mismatch',
                   '{{"resolution": "cleared_on_rerun"}}'::jsonb, %(now)s FROM closed""",
            {"run": run_id, "now": now},
        )


def _publish_reconciled(*, run: ReconciliationRun, by_client: _ClientTotals) -> int:
    """settlement.reconciled per merchant, keyed by run: a re-run publishes nothing twice."""
    rows = sorted((client_id, code, count, amount) for client_id, (code, count, amount) in by_client.clients.items()
                  if client_id is not None)  # fmt: skip
    now = timezone.now()
    events = [
        NewEvent(
            event_key=f"settlement.reconciled:run:{run.pk}:client:{client_id}",
            type="settlement.reconciled",
            payload={"run_id": run.pk, "file": run.file.original_name, "source": run.file.source,
                     "client_id": client_id, "client_code": client_code, "matched_count": count,
                     "matched_amount": str(amount), "reconciled_at": now.isoformat()},  # fmt: skip
            occurred_at=now, client_id=client_id, client_code=client_code,
        )
        for client_id, client_code, count, amount in rows
    ]
    return publish_many(events)


# --- Mismatch workflow ------------------------------------------------------------------


def _history(mismatches: Iterable[Mismatch], *, actor, action: str, comment: str = "", changes: dict) -> None:
    now = timezone.now()
    MismatchEvent.objects.bulk_create(
        [MismatchEvent(mismatch=m, actor=actor, action=action, comment=comment, changes=changes, at=now) for m in mismatches]
    )


@transaction.atomic
def mismatch_assign(*, mismatch_ids: Iterable[int], assignee, actor) -> int:
    items = list(Mismatch.objects.select_for_update().filter(pk__in=list(mismatch_ids)))
    for m in items:
        m.assigned_to = assignee
    Mismatch.objects.bulk_update(items, ["assigned_to"])
    _history(items, actor=actor, action=MismatchEvent.Action.ASSIGNED,
             changes={"assigned_to": assignee.get_username() if assignee else None})  # fmt: skip
    return len(items)


@transaction.atomic
def mismatch_comment(*, mismatch_ids: Iterable[int], actor, comment: str) -> int:
    comment = (comment or "").strip()
    if not comment:
        raise ValueError("a comment cannot be empty")
    items = list(Mismatch.objects.filter(pk__in=list(mismatch_ids)))
    _history(items, actor=actor, action=MismatchEvent.Action.COMMENTED, comment=comment, changes={})
    return len(items)


@transaction.atomic
def mismatch_resolve(*, mismatch_ids: Iterable[int], actor, reason: str, comment: str = "") -> int:
    """Resolve open mismatches with a reason; already-resolved ones are left as they are."""
    if reason not in OPERATOR_RESOLUTIONS:
        raise ValueError(f"the reason must be one of {', '.join(OPERATOR_RESOLUTIONS)}")
    items = list(Mismatch.objects.select_for_update().filter(pk__in=list(mismatch_ids), state=Mismatch.State.OPEN))
    now = timezone.now()
    for m in items:
        m.state, m.resolution, m.resolved_by, m.resolved_at = Mismatch.State.RESOLVED, reason, actor, now
    Mismatch.objects.bulk_update(items, ["state", "resolution", "resolved_by", "resolved_at"])
    _history(items, actor=actor, action=MismatchEvent.Action.RESOLVED, comment=comment, changes={"resolution": reason})
    return len(items)


@transaction.atomic
def mismatch_reopen(*, mismatch_ids: Iterable[int], actor, comment: str = "") -> int:
    items = list(Mismatch.objects.select_for_update().filter(pk__in=list(mismatch_ids), state=Mismatch.State.RESOLVED))
    for m in items:
        previous = m.resolution
        m.state, m.resolution, m.resolved_by, m.resolved_at = Mismatch.State.OPEN, "", None, None
        m.save(update_fields=["state", "resolution", "resolved_by", "resolved_at"])
        _history([m], actor=actor, action=MismatchEvent.Action.REOPENED, comment=comment, changes={"was": previous})
    return len(items)


def reconcile_previous_day(*, today: dt.date | None = None) -> list[int]:
    """The daily job: run every file imported yesterday (India time) that has no finished run."""
    from .selectors import files_uploaded_on

    today = today or timezone.localdate()
    done: list[int] = []
    for file in files_uploaded_on(today - dt.timedelta(days=1)):
        if file.runs.filter(dry_run=False, status=ReconciliationRun.Status.DONE).exists():
            continue
        run = file.runs.filter(dry_run=False).first() or reconciliation_run_create(file=file)
        reconciliation_run_execute(run=run)
        done.append(run.pk)
    return done


__all__ = [
    "DuplicateFileError", "RejectedFileError", "ReconciliationError", "mismatch_assign",
    "mismatch_comment", "mismatch_reopen", "mismatch_resolve", "reconcile_previous_day", "reconciliation_run_create",
    "reconciliation_run_execute", "settlement_file_import",
]  # fmt: skip
