"""Set-based matching of one file's staged lines against the core window (the run's
`recon_core_r<run>`, see Scratch).

Every step is one SQL statement over whole sets; nothing loops over rows in Python.

1. Rules in priority order. Each pairs still-unpaired lines with still-unpaired core rows
   by its reference, within its source / payment-mode filters, and writes the pairs with the
   rule's id (the first rule that matches wins) to the run's pairs table: its results
   partition on a first execution, else the scratch `recon_pairs_r<run>` (Scratch):
   - one_to_one: a line's reference finds exactly one core row; when several lines carry
     the reference of one core row, the first line (by line number) pairs. The pair is
     then checked: STATUS (file paid vs core paid), AMOUNT (outside the rule's tolerance),
     DATE (beyond the rule's drift), FEE (file net vs core expected net, only when the
     file carries fee information), in that order; the first failing check is its type.
     Lines and core rows that both say 'no money moved' match without amount checks.
   - one_to_many: one line settles every core row carrying its reference (typically a
     UTR); it matches only when the line's net equals the sum of their expected net
     within tolerance.
   - many_to_one: several lines carry one core row's reference; they match only when
     their amounts add up to the core amount within tolerance.
2. Unpaired lines: DUPLICATE when another line with the same reference was paired or
   the reference names several core rows, otherwise MISSING_IN_SYSTEM.
3. Paid core rows in the file's date window that no line (of any run) claimed:
   MISSING_IN_BANK, when some applicable rule covers their payment mode.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

from django.db import connection

from enhancements.platform.sql_session import bulk_write_workers

from . import storage
from .models import ReconciliationRule
from .storage import RESULTS, result_word, results_partition

@dataclasses.dataclass(frozen=True)
class Scratch:
    """A run's scratch tables: the core window, its pairs (read by every "still unpaired"
    anti-join, the mismatch steps, the summary and the events) and the repeated references.

    UNLOGGED tables (no WAL, no index) rather than temporary ones: parallel workers cannot read
    a temporary table, and with these the pairing join, the leftover and MISSING_IN_BANK
    anti-joins and the summary run on both cores (1M lines: about 1.2 s of 8.5 saved). The run's
    id in their names keeps concurrent runs apart (a run's row is locked while it executes). They
    are created inside the run's transaction and dropped before it commits (drop_scratch), so
    other sessions never see them, and a failed or killed run leaves none behind: its rollback
    takes their creation with it.

    `in_place`: the pairs are written straight into the run's results partition (its first,
    kept execution: storage.create_results_by_rule), which is not scratch; otherwise (a re-run,
    a dry run) into the unlogged `recon_pairs_r<run>`, whose rows a kept re-run then copies.
    """

    run_id: int
    in_place: bool = False

    @property
    def core(self) -> str:
        return f"recon_core_r{int(self.run_id)}"

    @property
    def pairs(self) -> str:
        return results_partition(self.run_id) if self.in_place else f"recon_pairs_r{int(self.run_id)}"

    @property
    def leftover(self) -> str:
        return f"recon_leftover_r{int(self.run_id)}"

    def line_dups(self, ref: str) -> str:
        return f"recon_line_dups_{ref}_r{int(self.run_id)}"

    def core_dups(self, ref: str) -> str:
        return f"recon_core_dups_{ref}_r{int(self.run_id)}"

    def shared_lines(self, ref: str) -> str:
        return f"recon_shared_lines_{ref}_r{int(self.run_id)}"

    def shared_core(self, ref: str) -> str:
        return f"recon_shared_core_{ref}_r{int(self.run_id)}"

    def per_reference(self, ref: str) -> list[str]:
        return [self.line_dups(ref), self.core_dups(ref), self.shared_lines(ref), self.shared_core(ref)]


@dataclasses.dataclass(frozen=True)
class RuleSpec:
    id: int
    kind: str
    reference: str
    tol_abs: Decimal
    tol_pct: Decimal
    drift_days: int
    fee_tol: Decimal
    payment_modes: tuple[str, ...]

    @classmethod
    def of(cls, rule: ReconciliationRule) -> RuleSpec:
        return cls(rule.pk, rule.kind, rule.reference, rule.amount_tolerance_abs, rule.amount_tolerance_pct,
                   rule.date_drift_days, rule.fee_tolerance_abs, tuple(rule.payment_modes or ()))  # fmt: skip


def _allowed(rule: RuleSpec, value_sql: str) -> str:
    """Tolerance: the larger of the absolute and the percentage allowance. Without a percentage
    (the default rules) just the absolute one: a numeric product and quotient per pair cost
    about 0.1 s of CPU per million pairs for nothing; with one, its fraction comes precomputed."""
    if not rule.tol_pct:
        return "%(tol_abs)s::numeric"
    return f"greatest(%(tol_abs)s::numeric, abs({value_sql}) * %(tol_fraction)s::numeric)"


def _outcome(word: str) -> str:
    return result_word("outcome", word)


def _type(word: str | None) -> str:
    return result_word("mismatch_type", word)


def _mode_filter(rule: RuleSpec) -> str:
    return "AND c.payment_mode = ANY(%(modes)s)" if rule.payment_modes else ""


def _params(rule: RuleSpec, file_id: int) -> dict:
    return {"file": file_id, "rule": rule.id, "tol_abs": rule.tol_abs, "tol_fraction": rule.tol_pct / 100,
            "drift": rule.drift_days, "fee_tol": rule.fee_tol, "modes": list(rule.payment_modes)}  # fmt: skip


def _unpaired_line(t: Scratch) -> str:
    return f"NOT EXISTS (SELECT 1 FROM {t.pairs} r WHERE r.entry_id = e.id)"


def _unpaired_core(t: Scratch) -> str:
    return f"NOT EXISTS (SELECT 1 FROM {t.pairs} r WHERE r.txn_id = c.txn_id AND r.trans_date = c.trans_at)"


# Above this many lines sharing a reference, many_to_one and one_to_one's first-line-first
# branch join the file and the window themselves: copying most of them into the small tables
# would cost more than it saves.
SHARED_TABLES_MAX_LINES = 200_000


@dataclasses.dataclass(frozen=True)
class Repeats:
    """What repeats, for one reference: references repeated in the file, the lines carrying
    them, references repeated in the window."""

    in_file: int
    lines: int
    in_window: int

    @property
    def small(self) -> bool:
        return 0 < self.lines <= SHARED_TABLES_MAX_LINES


def _repeats(cursor, ref: str, t: Scratch) -> Repeats:
    cursor.execute(f"""SELECT (SELECT count(*) FROM {t.line_dups(ref)}), (SELECT coalesce(sum(n), 0) FROM {t.line_dups(ref)}),
                              (SELECT count(*) FROM {t.core_dups(ref)})""")
    return Repeats(*cursor.fetchone())


def _shared_source(ref: str, lines: str, t: Scratch, repeats: Repeats) -> tuple[str, str, str]:
    """(lines, window, filter) for the lines sharing a reference: the small tables, or the whole
    file and window filtered by the repeated references."""
    if repeats.small:
        return t.shared_lines(ref), t.shared_core(ref), ""
    return lines, t.core, f"AND {_repeated(t.line_dups(ref), ref)}"


def _repeated(table: str, ref: str) -> str:
    return f"EXISTS (SELECT 1 FROM {table} d WHERE d.ref = e.{ref})"


def _dup_tables(ref: str, lines: str, t: Scratch) -> list[str]:
    """References repeated in the file / in the window, once per reference and run (the
    many_to_one and one_to_one rules on a reference share them).

    Both aggregates are one statement: each is a serial hash aggregate (a million groups: the
    parallel plan's partial groups would not shrink), and with partial scans ruled out for the
    statement the planner runs them side by side in two workers (a Parallel Append of the two),
    instead of one after the other (1M lines and window rows: 0.9 s instead of 1.3 s)."""
    both = f"recon_dups_{ref}_r{int(t.run_id)}"
    return [
        f"DROP TABLE IF EXISTS {', '.join(t.per_reference(ref))}, {both}",
        "SET LOCAL min_parallel_table_scan_size = '100GB'",
        f"""CREATE UNLOGGED TABLE {both} AS
        SELECT true AS in_file, e.{ref}::text AS ref, count(*) AS n FROM {lines} e
        WHERE e.file_id = %(file)s AND e.{ref} IS NOT NULL GROUP BY e.{ref} HAVING count(*) > 1
        UNION ALL
        SELECT false, c.{ref}, count(*) FROM {t.core} c WHERE c.{ref} IS NOT NULL GROUP BY c.{ref} HAVING count(*) > 1""",
        "SET LOCAL min_parallel_table_scan_size TO DEFAULT",
        f"CREATE UNLOGGED TABLE {t.line_dups(ref)} AS SELECT ref, n FROM {both} WHERE in_file",
        f"CREATE UNLOGGED TABLE {t.core_dups(ref)} AS SELECT ref, n FROM {both} WHERE NOT in_file",
        f"DROP TABLE {both}",
        f"ANALYZE {t.line_dups(ref)}",
        f"ANALYZE {t.core_dups(ref)}",
    ]


def _shared_tables(ref: str, lines: str, t: Scratch) -> list[str]:
    """The lines whose reference is repeated in the file, and the window's rows carrying one of
    those references: all that many_to_one and one_to_one's first-line-first branch join (a few
    thousand rows; each of them joined the whole file and window, 0.2 s at a million lines).
    Only when a few lines share references (Repeats.small)."""
    return [
        f"""CREATE UNLOGGED TABLE {t.shared_lines(ref)} AS SELECT e.* FROM {lines} e
        WHERE e.file_id = %(file)s AND e.{ref} IN (SELECT d.ref FROM {t.line_dups(ref)} d)""",
        f"""CREATE UNLOGGED TABLE {t.shared_core(ref)} AS SELECT c.* FROM {t.core} c
        WHERE c.{ref} IN (SELECT d.ref FROM {t.line_dups(ref)} d)""",
        f"ANALYZE {t.shared_lines(ref)}",
        f"ANALYZE {t.shared_core(ref)}",
    ]


def _one_to_one(rule: RuleSpec, guarded: bool, lines: str, t: Scratch, repeats: Repeats) -> str:
    """One statement, two branches. Lines whose reference is unique in the file pair directly
    (a hash join, no sort); the few lines sharing a reference pair first-line-first. References
    that name several core rows pair nothing (the leftover step reports them as DUPLICATE).
    The branches cannot claim the same line or core row (they split the lines by reference,
    and a core row pairs only with lines carrying its reference), so one statement is safe.
    `guarded`: earlier rules of the run paired something, so skip what they claimed (when
    nothing was paired yet, the anti-joins would only cost two scans). `repeats`: a test against
    an empty set of repeated references is left out (each costs a hash of every line's
    reference, 0.1-0.2 s at a million lines)."""
    ref = rule.reference
    guard = f"AND {_unpaired_line(t)} AND {_unpaired_core(t)}" if guarded else ""
    check = f"""CASE
        WHEN (e.status IS DISTINCT FROM 'FAILED') <> c.paid THEN {_type('STATUS')}
        WHEN NOT c.paid THEN {_type(None)}
        WHEN abs(e.amount - c.amount) > {_allowed(rule, 'c.amount')} THEN {_type('AMOUNT')}
        WHEN e.txn_date IS NOT NULL AND abs(e.txn_date - c.trans_day) > %(drift)s THEN {_type('DATE')}
        WHEN e.has_fee_info AND abs(e.net - c.expected_net) > %(fee_tol)s THEN {_type('FEE')}
        ELSE {_type(None)}
    END"""
    columns = f"""e.id, e.line_no, c.txn_id, c.trans_at, c.client_id, c.client_code,
           %(rule)s, {check}, e.amount, c.amount, e.net, c.expected_net"""
    def base(lines: str, core: str) -> str:
        named_once = f"AND NOT {_repeated(t.core_dups(ref), ref)}" if repeats.in_window else ""
        return f"""FROM {lines} e JOIN {core} c ON c.{ref} = e.{ref}
        WHERE e.file_id = %(file)s AND e.{ref} IS NOT NULL {_mode_filter(rule)} {guard} {named_once}"""
    # The check is computed once, in a subquery kept apart by OFFSET 0, and read twice.
    names = ("entry_id, line_no, txn_id, trans_date, client_id, client_code, rule_id, "
             "mismatch_type, file_amount, core_amount, file_net, expected_net")
    outer = names.replace("mismatch_type,", f"CASE WHEN mismatch_type IS NULL THEN {_outcome('MATCHED')} "
                                            f"ELSE {_outcome('MISMATCHED')} END, mismatch_type,")
    unique = f"""SELECT {outer} FROM (
        SELECT {columns} {base(lines, t.core)}
          {f"AND NOT {_repeated(t.line_dups(ref), ref)}" if repeats.in_file else ""} OFFSET 0
    ) AS r_all ({names})"""
    if not repeats.in_file:
        return unique
    shared_lines, shared_core, shared_filter = _shared_source(ref, lines, t, repeats)
    return f"""{unique}
    UNION ALL
    SELECT {outer} FROM (
        SELECT {columns}, row_number() OVER (PARTITION BY c.txn_id, c.trans_at ORDER BY e.line_no)
        {base(shared_lines, shared_core)} {shared_filter}
    ) AS r_all ({names}, nth_line) WHERE nth_line = 1"""


def _one_to_many(rule: RuleSpec, lines: str, t: Scratch) -> str:
    # The reference names a batch; a batch whose expected net does not add up to the line's
    # net is still claimed by the line (it is the batch's only line) but as an AMOUNT mismatch.
    ref = rule.reference
    return f"""WITH cand AS (
        SELECT e.id, e.line_no, e.net, e.{ref} AS ref, c.txn_id, c.trans_at AS trans_date, c.client_id, c.client_code,
               c.expected_net
        FROM {lines} e JOIN {t.core} c ON c.{ref} = e.{ref}
        WHERE e.file_id = %(file)s AND e.{ref} IS NOT NULL AND c.paid AND e.status IS DISTINCT FROM 'FAILED'
          {_mode_filter(rule)} AND {_unpaired_line(t)} AND {_unpaired_core(t)}
    ), lines AS (
        SELECT ref FROM cand GROUP BY ref HAVING count(DISTINCT id) = 1
    ), grp AS (
        SELECT cand.id, sum(cand.expected_net) AS total,
               abs(sum(cand.expected_net) - cand.net) <= {_allowed(rule, 'cand.net')} AS fits
        FROM cand JOIN lines USING (ref) GROUP BY cand.id, cand.net
    )
    SELECT cand.id, cand.line_no, txn_id, trans_date, client_id, client_code, %(rule)s,
           CASE WHEN grp.fits THEN {_outcome('MATCHED')} ELSE {_outcome('MISMATCHED')} END,
           CASE WHEN grp.fits THEN {_type(None)} ELSE {_type('AMOUNT')} END,
           cand.net, grp.total, cand.net, grp.total
    FROM cand JOIN grp USING (id)"""


def _many_to_one(rule: RuleSpec, lines: str, t: Scratch, repeats: Repeats) -> str:
    ref = rule.reference
    shared_lines, shared_core, shared_filter = _shared_source(ref, lines, t, repeats)
    return f"""WITH cand AS (
        SELECT e.id, e.line_no, e.amount, e.net, c.txn_id, c.trans_at AS trans_date, c.client_id, c.client_code,
               c.amount AS core_amount, c.expected_net, count(*) OVER (PARTITION BY e.id) AS core_rows
        FROM {shared_lines} e JOIN {shared_core} c ON c.{ref} = e.{ref}
        WHERE e.file_id = %(file)s AND e.{ref} IS NOT NULL AND c.paid AND e.status IS DISTINCT FROM 'FAILED'
          {shared_filter} {_mode_filter(rule)} AND {_unpaired_line(t)} AND {_unpaired_core(t)}
    ), fit AS (
        SELECT txn_id, trans_date FROM cand WHERE core_rows = 1
        GROUP BY txn_id, trans_date, core_amount
        HAVING count(*) > 1 AND abs(sum(amount) - core_amount) <= {_allowed(rule, 'core_amount')}
    )
    SELECT cand.id, cand.line_no, txn_id, trans_date, client_id, client_code, %(rule)s,
           {_outcome('MATCHED')}, {_type(None)}, cand.amount, core_amount, cand.net, expected_net
    FROM cand JOIN fit USING (txn_id, trans_date) WHERE core_rows = 1"""


def carried_references(*, file_id: int, lines: str, references) -> set[str]:
    """The references some line of the file carries (one pass over its lines, `lines`: see
    storage.file_lines): a rule on any other cannot pair anything, and the core window need
    not carry its column."""
    references = sorted(set(references))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(f'bool_or({ref} IS NOT NULL)' for ref in references)} FROM {lines} WHERE file_id = %s",
            [file_id],
        )
        return {ref for ref, there in zip(references, cursor.fetchone(), strict=True) if there}


def _pair(cursor, t: Scratch, query: str, params: dict, number: int, rule: RuleSpec, numbered_from: int | None) -> int:
    """Add a rule's pairs (`query` gives the results' columns after id and run_id, in order) as
    the pairs table's `number`th part; returns how many. CREATE TABLE AS, whose SELECT can run in
    parallel workers where an INSERT's cannot. In place, the part is the rule's sub-partition of
    the run's results; otherwise an unlogged child (table inheritance) of the scratch pairs
    table. Readers of the pairs table read its parts either way."""
    part = f"{t.pairs}_{number}"
    select = storage.result_rows_select(t.run_id, query, numbered_from=numbered_from)
    with bulk_write_workers(cursor):  # the leader writes every pair (see there)
        cursor.execute(f"CREATE {'' if t.in_place else 'UNLOGGED '}TABLE {part} AS {select}", params)
        rows = cursor.rowcount
    if t.in_place:
        storage.attach_rule_results(cursor, t.run_id, part, rule.id)
    else:
        cursor.execute(f"ALTER TABLE {part} INHERIT {t.pairs}")
    return rows


def _execute_all(cursor, statements: list[str], params: dict) -> None:
    for sql in statements:
        cursor.execute(sql, params if "%(" in sql else None)


@dataclasses.dataclass(frozen=True)
class Paired:
    """What apply_rules did: {rule id: pairs}, and the references whose lines sharing them
    have their small table (Scratch.shared_lines; stage_leftovers reads it)."""

    per_rule: dict[int, int]
    small_tables: frozenset[str]


def apply_rules(*, file_id: int, lines: str, rules: list[RuleSpec], tz: str, carried: set[str],
                t: Scratch) -> Paired:
    """Pair lines with core rows, rule by rule, into the run's pairs table (empty itself: each
    rule's pairs are a part of it). Rules on a reference no line carries are skipped (`carried`: a
    superset of those the lines carry, as the import recorded them, or carried_references for a
    file imported before), and so is many_to_one on a reference no two lines share."""
    written: dict[int, int] = {rule.id: 0 for rule in rules}
    with connection.cursor() as cursor:
        if t.in_place:
            storage.create_results_by_rule(cursor, t.run_id)
        else:
            cursor.execute(f"DROP TABLE IF EXISTS {t.pairs} CASCADE")
            cursor.execute(f"CREATE UNLOGGED TABLE {t.pairs} ({storage.result_columns_ddl()})")
        live = [rule for rule in rules if rule.reference in carried]
        repeated: dict[str, Repeats] = {}
        numbered = 0  # one_to_many pairs so far: their ids are numbered (storage.result_rows_select)
        for number, rule in enumerate(live, start=1):
            paired_before = sum(written.values())
            params = {**_params(rule, file_id), "tz": tz}
            one_to_many = rule.kind == ReconciliationRule.Kind.ONE_TO_MANY
            if one_to_many:
                query = _one_to_many(rule, lines, t)
            else:
                ref = rule.reference
                if ref not in repeated:
                    _execute_all(cursor, _dup_tables(ref, lines, t), params)
                    repeated[ref] = _repeats(cursor, ref, t)
                    if repeated[ref].small:
                        _execute_all(cursor, _shared_tables(ref, lines, t), params)
                if rule.kind == ReconciliationRule.Kind.ONE_TO_ONE:
                    query = _one_to_one(rule, paired_before > 0, lines, t, repeated[ref])
                elif repeated[ref].in_file:
                    query = _many_to_one(rule, lines, t, repeated[ref])
                else:
                    continue  # many_to_one needs lines sharing a reference: none
            written[rule.id] += _pair(cursor, t, query, params, number, rule, numbered if one_to_many else None)
            if one_to_many:
                numbered += written[rule.id]
            if written[rule.id] > 10_000:
                # The next rules' "still unpaired" anti-joins (and the leftover steps) need
                # to know the table grew (statistics of the parent cover its parts); the summary
                # counts the MATCHED pairs (outcome: without its statistics the planner expects
                # a few thousand and sorts a million pairs instead of hashing them: 0.38 s, not 0.15 s).
                cursor.execute(f"ANALYZE {t.pairs} (entry_id, txn_id, trans_date, outcome)")
    return Paired(written, frozenset(ref for ref, repeats in repeated.items() if repeats.small))


def drop_scratch(t: Scratch, references) -> None:
    """Drop the run's scratch tables (those a rolled-back step created are gone already)."""
    names = [t.core, t.leftover, *([] if t.in_place else [t.pairs])]
    names += [name for ref in references for name in t.per_reference(ref)]
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {', '.join(names)} CASCADE")  # CASCADE: the pairs' children


def stage_leftovers(*, file_id: int, lines: str, references: list[str], unique_references: list[str],
                    small_tables: frozenset[str], t: Scratch) -> None:
    """Mismatches for unpaired lines (DUPLICATE / MISSING_IN_SYSTEM) into recon_new_mismatches.

    `unique_references` (those of one_to_one rules) should name one core row; a line whose
    such reference names several is a DUPLICATE in the system. `small_tables`: see Paired.
    """
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {t.leftover}, recon_duplicate")
        cursor.execute(
            f"""CREATE UNLOGGED TABLE {t.leftover} AS
            SELECT e.* FROM {lines} e
            WHERE e.file_id = %(file)s AND NOT EXISTS (SELECT 1 FROM {t.pairs} r WHERE r.entry_id = e.id)""",
            {"file": file_id},
        )
        # A few thousand lines: with statistics, the DUPLICATE checks below start from them
        # (and find their namesakes in the file) instead of joining the whole file first.
        cursor.execute(f"ANALYZE {t.leftover}")
        # Only references some unpaired line carries can make it a duplicate; each check of an
        # absent one would still scan the file's lines.
        cursor.execute(f"SELECT {', '.join(f'bool_or({ref} IS NOT NULL)' for ref in references)} FROM {t.leftover}")
        carried = {ref for ref, there in zip(references, cursor.fetchone(), strict=True) if there}
        # The repeated references' tables the rules left (apply_rules), where they help: a line
        # sharing its reference with another is among the lines whose reference repeats (their
        # small table, when there is one), and a reference naming several core rows is among the
        # window's repeated references, with its count (a one_to_one rule on a reference the file
        # carries always leaves that table). 1M lines: 0.24 s -> 0.09 s.
        checks = []
        for ref in (r for r in references if r in carried):
            # Another line with this reference was paired in this run. (That line may have
            # several pairs, one_to_many: the detail names the first transaction by id, so that
            # a re-run writes the same text whatever order the plan reads the pairs in.)
            others = t.shared_lines(ref) if ref in small_tables else lines
            checks.append(
                f"""(SELECT DISTINCT ON (l.id) l.id, {len(checks)}, 'same {ref} as line ' || e.line_no || ' (matched to ' || r.txn_id || ')'
                FROM {t.leftover} l JOIN {others} e ON e.file_id = %(file)s AND e.{ref} = l.{ref}
                JOIN {t.pairs} r ON r.entry_id = e.id
                WHERE l.{ref} IS NOT NULL ORDER BY l.id, e.line_no, r.txn_id, r.trans_date)"""
            )
            if ref in unique_references:
                # The reference names several core transactions: it cannot identify one.
                checks.append(
                    f"""(SELECT l.id, {len(checks)}, '{ref} ' || l.{ref} || ' names ' || d.n || ' core transactions'
                    FROM {t.leftover} l JOIN {t.core_dups(ref)} d ON d.ref = l.{ref})"""
                )
        # All the checks in one statement whose scans of the file, the pairs and the window run
        # in parallel workers (an INSERT's cannot; the leftover lines are an unlogged table, which
        # workers can read, for that): 1M lines, 0.4 s -> 0.24 s. A line several checks catch
        # is reported by the first (`nth`), whatever order the workers deliver them in.
        cursor.execute(
            "CREATE TEMPORARY TABLE recon_duplicate (entry_id, nth, detail) ON COMMIT DROP AS "
            + (" UNION ALL ".join(checks) or "SELECT NULL::bigint, NULL::int, NULL::text WHERE false"),
            {"file": file_id},
        )
        cursor.execute(
            f"""INSERT INTO recon_new_mismatches (fingerprint, type, entry_id, line_no, txn_id, client_id, client_code,
                   rule_id, amount, file_amount, core_amount, detail)
            SELECT CASE WHEN d.detail IS NULL THEN 'MISSING_IN_SYSTEM' ELSE 'DUPLICATE' END || ':line:' || l.line_no,
                   CASE WHEN d.detail IS NULL THEN 'MISSING_IN_SYSTEM' ELSE 'DUPLICATE' END,
                   l.id, l.line_no, NULL, NULL, NULL, NULL, l.amount, l.amount, NULL,
                   coalesce(d.detail, 'no core transaction carries this line''s reference')
            FROM {t.leftover} l
            LEFT JOIN (SELECT DISTINCT ON (entry_id) entry_id, detail FROM recon_duplicate ORDER BY entry_id, nth) d
              ON d.entry_id = l.id"""
        )


def stage_pair_mismatches(t: Scratch) -> None:
    # One mismatch per line and type: a one_to_many line that disagrees with its batch is
    # one AMOUNT mismatch, not one per transaction of the batch. Found by CREATE TABLE AS, then
    # inserted, like MISSING_IN_BANK: its scan of the million pairs runs in parallel workers
    # (1M pairs: 0.11-0.13 -> 0.08 s).
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS recon_pair_mismatches")
        cursor.execute(
            f"""CREATE TEMPORARY TABLE recon_pair_mismatches (fingerprint, type, entry_id, line_no, txn_id, client_id,
                   client_code, rule_id, amount, file_amount, core_amount, detail) ON COMMIT DROP AS
            SELECT g.kind || ':line:' || g.line_no || coalesce(':' || g.txn_id, ''), g.kind, g.entry_id, g.line_no,
                   g.txn_id, g.client_id, g.client_code, g.rule_id,
                   CASE g.kind WHEN 'AMOUNT' THEN abs(g.file_amount - g.core_amount)
                        WHEN 'FEE' THEN abs(g.file_net - g.expected_net) ELSE g.file_amount END,
                   g.file_amount, g.core_amount,
                   CASE g.kind
                     WHEN 'AMOUNT' THEN 'file ' || g.file_amount || ' vs core ' || g.core_amount
                       || CASE WHEN g.n > 1 THEN ' (expected net of ' || g.n || ' transactions)' ELSE '' END
                     WHEN 'FEE' THEN 'file net ' || g.file_net || ' vs expected net ' || g.expected_net
                     WHEN 'STATUS' THEN 'file and core disagree on whether the payment succeeded'
                     WHEN 'DATE' THEN 'file date outside the rule''s drift'
                   END
            FROM (
                SELECT r.mismatch_type AS kind, r.entry_id, r.line_no, r.rule_id, r.file_amount, r.core_amount,
                       r.file_net, r.expected_net, count(*) AS n,
                       CASE WHEN count(*) = 1 THEN min(r.txn_id) END AS txn_id,
                       CASE WHEN count(DISTINCT r.client_id) = 1 THEN min(r.client_id) END AS client_id,
                       CASE WHEN count(DISTINCT r.client_code) = 1 THEN min(r.client_code) END AS client_code
                FROM {t.pairs} r WHERE r.mismatch_type IS NOT NULL
                GROUP BY r.mismatch_type, r.entry_id, r.line_no, r.rule_id, r.file_amount, r.core_amount,
                         r.file_net, r.expected_net
            ) g"""
        )
        cursor.execute(
            """INSERT INTO recon_new_mismatches (fingerprint, type, entry_id, line_no, txn_id, client_id, client_code,
                   rule_id, amount, file_amount, core_amount, detail)
            SELECT * FROM recon_pair_mismatches"""
        )


def stage_missing_in_bank(
    *, start: dt.date, end: dt.date, modes: list[str] | None, tz: str, other_runs: list[int], t: Scratch
) -> None:
    """Paid core rows in [start, end) (India dates) that neither this run nor one of
    `other_runs` (the finished runs whose windows overlap this one) has paired."""
    mode_filter = "AND c.payment_mode = ANY(%(modes)s)" if modes else ""
    # Naming the runs lets PostgreSQL read only their partitions of the results.
    others = (
        f"AND NOT EXISTS (SELECT 1 FROM {RESULTS} r WHERE r.run_id = ANY(%(runs)s) AND r.txn_id = c.txn_id "
        "AND r.trans_date = c.trans_at)"
        if other_runs else ""
    )
    with connection.cursor() as cursor:
        # Found by CREATE TABLE AS, then inserted: its anti-join over the window and the pairs
        # (a million rows each) runs in parallel workers, which an INSERT ... SELECT cannot use.
        cursor.execute("DROP TABLE IF EXISTS recon_missing_in_bank")
        cursor.execute(
            f"""CREATE TEMPORARY TABLE recon_missing_in_bank ON COMMIT DROP AS
            SELECT c.txn_id, c.trans_at AT TIME ZONE %(tz)s AS trans_date, c.client_id, c.client_code, c.amount, c.trans_day
            FROM {t.core} c
            WHERE c.paid AND c.trans_day >= %(start)s::date AND c.trans_day < %(end)s::date {mode_filter}
              AND NOT EXISTS (SELECT 1 FROM {t.pairs} p WHERE p.txn_id = c.txn_id AND p.trans_date = c.trans_at)
              {others}""",
            {"start": start.isoformat(), "end": end.isoformat(), "modes": modes or [], "tz": tz, "runs": other_runs},
        )
        # The fingerprint names the core row by its key, (txn_id, trans_date): a txn_id alone can
        # name two rows (the same id at another time), whose fingerprints would collide.
        cursor.execute(
            """INSERT INTO recon_new_mismatches (fingerprint, type, entry_id, line_no, txn_id, client_id, client_code,
                   rule_id, amount, file_amount, core_amount, detail)
            SELECT 'MISSING_IN_BANK:' || m.txn_id || ':' || to_char(m.trans_date, 'YYYY-MM-DD"T"HH24:MI:SS.US'),
                   'MISSING_IN_BANK', NULL, NULL, m.txn_id, m.client_id, m.client_code,
                   NULL, m.amount, NULL, m.amount, 'paid in the core on ' || m.trans_day || ', in no settlement line'
            FROM recon_missing_in_bank m"""
        )


NEW_MISMATCHES_DDL = """CREATE TEMPORARY TABLE recon_new_mismatches (
    fingerprint text PRIMARY KEY, type text, entry_id bigint, line_no int, txn_id text, client_id int,
    client_code text, rule_id bigint, amount numeric(14, 2), file_amount numeric(14, 2), core_amount numeric(14, 2),
    detail text) ON COMMIT DROP"""

