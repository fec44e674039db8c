"""Where a file's staged lines and a run's results are written: one partition per file of
`reconciliation_entries`, one per run of `transaction_recon_table` (migration 0004).

Why partitions: an import or a run writes up to a million rows at once. Written by one
CREATE TABLE ... AS into a table of their own, with no index to maintain row by row, they cost
a fraction of an INSERT into the shared, indexed table (1M result rows: about 1.4 s instead of
15 s on the benchmark machine, docs/reconciliation.md); the table is then attached as the
partition, which PostgreSQL does without re-reading it because the table already carries the
partition's CHECK constraint. Readers go through the parent tables and the ORM as before; a
filter on the file / run picks its partition.

Both partitioned tables have no index: a file's lines and a run's pairs are read whole, by
hash joins. A file's lines are written once, by one statement (a line number is unique in its
file by construction: COPY order or the parser's count); a run's, by one statement per rule
into the rule's sub-partition, or on a re-run by one DELETE and one INSERT.
"""

from __future__ import annotations

from django.db import connection

from enhancements.platform.sql_session import small_statistics_sample

from .models import ReconResult, SettlementEntry

ENTRIES = connection.ops.quote_name(SettlementEntry._meta.db_table)
RESULTS = connection.ops.quote_name(ReconResult._meta.db_table)

# Column, type and nullability, as migration 0004 created the parents (a partition must match).
ENTRY_COLUMNS = (
    ("id", "bigint", False), ("file_id", "bigint", False), ("line_no", "integer", False),
    ("txn_id", "varchar(100)", True), ("bank_txn_id", "varchar(100)", True), ("pg_txn_id", "varchar(100)", True),
    ("client_txn_id", "varchar(100)", True), ("settlement_utr", "varchar(100)", True),
    ("amount", "numeric(14, 2)", False), ("fee", "numeric(14, 2)", True), ("tax", "numeric(14, 2)", True),
    ("net", "numeric(14, 2)", False), ("has_fee_info", "boolean", False), ("txn_date", "date", True),
    ("status", "varchar(16)", True), ("payment_mode", "varchar(100)", True),
)  # fmt: skip
RESULT_COLUMNS = (
    ("id", "bigint", False), ("run_id", "bigint", False), ("entry_id", "bigint", False), ("line_no", "integer", False),
    ("txn_id", "varchar(64)", False), ("trans_date", "timestamptz", False), ("client_id", "integer", True),
    ("client_code", "varchar(64)", True), ("rule_id", "bigint", True), ("outcome", "varchar(12)", False),
    ("mismatch_type", "varchar(20)", True), ("file_amount", "numeric(14, 2)", False),
    ("core_amount", "numeric(14, 2)", True), ("file_net", "numeric(14, 2)", True), ("expected_net", "numeric(14, 2)", True),
)  # fmt: skip

_ID_SPAN = 1 << 32  # line numbers are int4: below 2^31


def entry_id(file_id: int, line_no: int) -> int:
    """A staged line's id: unique because (file, line number) is, and computable by both import
    paths without a sequence call per line. (A result's id is built the same way from its run.)"""
    return file_id * _ID_SPAN + line_no


def entry_id_sql(file_sql: str, line_sql: str) -> str:
    """entry_id in SQL (and a result's id, with its run in place of the file)."""
    return f"({file_sql}::bigint * {_ID_SPAN} + {line_sql})"


def entries_partition(file_id: int) -> str:
    return f"reconciliation_entries_f{int(file_id)}"


def results_partition(run_id: int) -> str:
    return f"transaction_recon_table_r{int(run_id)}"


def _typed(name: str, kind: str, known_max: int | None = None) -> str:
    """`s.name` as `kind`. An explicit cast to varchar(n) would cut a longer text silently (an
    INSERT's assignment would refuse it): a longer one is made to fail instead, loudly, by
    casting the message to int ("invalid input syntax for type integer: ..."). Not needed when
    the SELECT already guarantees the text is at most `known_max` characters, within n: the
    test reads the value twice, and an expression behind it (trim, placeholder test) is
    evaluated each time."""
    if kind.startswith("varchar("):
        limit = int(kind[len("varchar("):-1])
        if known_max is not None and known_max <= limit:
            return f"s.{name}::{kind}"
        return (f"(CASE WHEN length(s.{name}) > {limit} "
                f"THEN ('{name} is longer than {limit} characters: ' || s.{name})::int::text "
                f"ELSE s.{name} END)::{kind}")  # fmt: skip
    return f"s.{name}::{kind}"


def _typed_select(columns, select_sql: str, known_max: dict[str, int] | None = None) -> str:
    names = ", ".join(name for name, _, _ in columns)
    casts = ", ".join(_typed(name, kind, (known_max or {}).get(name)) for name, kind, _ in columns)
    return f"SELECT {casts} FROM ({select_sql}) AS s ({names})"


def _seal(cursor, table: str, columns, key: str, value: int, *checks: str) -> None:
    """NOT NULL where the parent has it and the partition's CHECK (and `checks`), in one pass
    over the table."""
    parts = [f"ALTER COLUMN {name} SET NOT NULL" for name, _, nullable in columns if not nullable]
    parts.append(f"ADD CONSTRAINT {table}_key CHECK ({key} = {int(value)})")
    parts += [f"ADD CONSTRAINT {table}_check{n} CHECK ({check})" for n, check in enumerate(checks, start=1)]
    cursor.execute(f"ALTER TABLE {table} {', '.join(parts)}")


# --- Staged lines ------------------------------------------------------------------------


def entries_table_from_select(cursor, file_id: int, select_sql: str, params=None, *,
                              known_max: dict[str, int] | None = None) -> int:
    """Create the file's (not yet attached) lines table from a SELECT of ENTRY_COLUMNS, in that
    order; returns the row count. Then more lines may be COPied in; then `attach_entries`.
    `known_max`: text columns the SELECT keeps within that many characters (see _typed)."""
    table = entries_partition(file_id)
    cursor.execute(f"CREATE TABLE {table} AS {_typed_select(ENTRY_COLUMNS, select_sql, known_max)}", params)
    rows = cursor.rowcount
    _seal(cursor, table, ENTRY_COLUMNS, "file_id", file_id)
    return rows


def empty_entries_table(cursor, file_id: int) -> str:
    table = entries_partition(file_id)
    cursor.execute(f"CREATE TABLE {table} (LIKE {ENTRIES})")  # LIKE copies the NOT NULLs
    cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_key CHECK (file_id = {int(file_id)})")
    return table


def file_lines(cursor, file_id: int) -> str:
    """The table to read one file's lines from: its partition, named directly. Through the parent
    the planner has no statistics of the file's columns (the parent has none of its own) and
    takes a million distinct references for 200: its aggregates and joins over the file then
    pick partial-aggregate-and-sort plans that cost a third more. A file imported before the
    lines were partitioned with no line at all has no partition: the parent then (no rows)."""
    table = entries_partition(file_id)
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [table])
    return table if cursor.fetchone()[0] else ENTRIES


def attach_entries(cursor, file_id: int) -> None:
    table = entries_partition(file_id)
    cursor.execute(f"ALTER TABLE {ENTRIES} ATTACH PARTITION {table} FOR VALUES IN ({int(file_id)})")
    small_statistics_sample(cursor)
    # Statistics of the columns the matching joins and filters use, so its joins get hash plans
    # with the small side hashed: without the id's, the planner takes a few thousand lines for
    # a handful of ids, and hashes a run's million pairs instead of them (DUPLICATE check).
    cursor.execute(f"ANALYZE {table} (id, file_id, txn_id, bank_txn_id, pg_txn_id, client_txn_id, settlement_utr, status)")


# --- Run results --------------------------------------------------------------------------
#
# A run's first execution writes its pairs straight into its partition: the partition is itself
# partitioned by rule (LIST (rule_id), plus a DEFAULT sub-partition for rows whose rule was
# deleted, or a re-run's rule that is new), and each rule's pairs are one CREATE TABLE AS, whose
# join runs in parallel workers, attached as that rule's sub-partition. Before, the pairs went
# into an unlogged scratch table and were then copied into the partition: a second million-row
# write (1M pairs: about 0.9 s of the run). The partition is attached to the results table at
# the end of the run's transaction. A re-run (the partition exists) pairs into scratch tables
# and replaces the partition's rows (write_run_results).

_NUMBERED = 1 << 31  # line numbers are int4, below 2^31: numbered ids sit above them


def _result_id_sql(run_id: int, numbered_from: int | None) -> str:
    """A result's id, computed in the parallel workers (a sequence call per row is not
    parallel-safe, and cost 0.3 s per million rows). Most pairs: run id * 2^32 + the line
    number, unique because such a line has one pair per run (one_to_one, many_to_one). Pairs
    that share a line (one_to_many: a line settles several transactions) are numbered instead,
    above every line number, from `numbered_from` (rule after rule)."""
    if numbered_from is None:
        return entry_id_sql(str(int(run_id)), "p.line_no")
    # Numbered in a fixed order, so that a re-run gives each pair the id it had.
    return (f"({int(run_id)}::bigint * {_ID_SPAN} + {_NUMBERED + int(numbered_from)} "
            f"+ row_number() OVER (ORDER BY p.entry_id, p.txn_id, p.trans_date))")


def result_rows_select(run_id: int, pairs_sql: str, *, numbered_from: int | None = None) -> str:
    """RESULT_COLUMNS, typed, from `pairs_sql` (the columns after id and run_id, in order)."""
    names = [name for name, _, _ in RESULT_COLUMNS[2:]]
    select = (f"SELECT {_result_id_sql(run_id, numbered_from)}, {int(run_id)}, p.* "
              f"FROM ({pairs_sql}) AS p ({', '.join(names)})")  # fmt: skip
    # outcome and mismatch_type are the matching's own words, within their lengths.
    return _typed_select(RESULT_COLUMNS, select, {"outcome": 12, "mismatch_type": 20})


_RESULT_KINDS = {name: kind for name, kind, _ in RESULT_COLUMNS}


def result_word(column: str, word: str | None) -> str:
    """`word` (None: NULL) as a constant of the results' `column` type. A CASE whose every
    branch (ELSE included) is such a constant has that type too, so its cast into the column
    (result_rows_select) is a no-op; of plain text words it would check each row's length, in
    the one process that writes the rows (1M pairs: about 0.1 s)."""
    return f"{'NULL' if word is None else repr(word)}::{_RESULT_KINDS[column]}"


def result_columns_ddl() -> str:
    return ", ".join(f"{name} {kind}" for name, kind, _ in RESULT_COLUMNS)


def create_results_by_rule(cursor, run_id: int) -> str:
    """The run's (not yet attached) partition, partitioned by rule; returns its name."""
    table = results_partition(run_id)
    cursor.execute(f"CREATE TABLE {table} (LIKE {RESULTS}) PARTITION BY LIST (rule_id)")
    default = f"{table}_d"
    cursor.execute(f"CREATE TABLE {default} PARTITION OF {table} DEFAULT")
    # Attaching the run's partition then needs no scan of it (nor of the rule sub-partitions).
    cursor.execute(f"ALTER TABLE {default} ADD CONSTRAINT {default}_key CHECK (run_id = {int(run_id)})")
    return table


def attach_rule_results(cursor, run_id: int, table: str, rule_id: int) -> None:
    """Seal a rule's pairs table (a CREATE TABLE AS of result_rows_select) and attach it as the
    rule's sub-partition; its CHECKs spare the attachment a scan."""
    _seal(cursor, table, RESULT_COLUMNS, "run_id", run_id, f"rule_id IS NOT NULL AND rule_id = {int(rule_id)}")
    cursor.execute(f"ALTER TABLE {results_partition(run_id)} ATTACH PARTITION {table} FOR VALUES IN ({int(rule_id)})")


def write_run_results(cursor, run_id: int, pairs_table: str) -> None:
    """Make the run's pairs its results. Written in place (`pairs_table` is the run's partition,
    create_results_by_rule): attach it. A re-run's pairs (scratch tables) replace the rows of
    its existing partition with DELETE and INSERT: slower, but neither DROP nor TRUNCATE, whose
    exclusive locks (on the parent, or on the partition) two overlapping re-runs would wait for
    in a cycle, each having read the other's results for MISSING_IN_BANK; and readers of the
    results would queue behind them."""
    table = results_partition(run_id)
    if pairs_table == table:
        cursor.execute(f"ALTER TABLE {RESULTS} ATTACH PARTITION {table} FOR VALUES IN ({int(run_id)})")
        return
    columns = ", ".join(name for name, _, _ in RESULT_COLUMNS)
    # Deleting a rule sets its results' rule_id to NULL, which moves them to the DEFAULT
    # sub-partition; a DELETE meeting a row moved under it fails ("already moved to another
    # partition"). This lock waits for such an update and holds off the next until the run
    # commits; it does not conflict with readers (other runs reading this run's results).
    cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
    cursor.execute(f"DELETE FROM {table}")
    cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {pairs_table}")
