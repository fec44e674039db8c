"""Settings a set-based statement needs for the rest of its transaction."""

from __future__ import annotations

import contextlib

from django.conf import settings
from django.db import DatabaseError


def prefer_parallel(cursor) -> None:
    """Let the planner use parallel workers for this transaction's whole-table passes.

    At the default costs it keeps joins and aggregates over a million rows of our own unlogged
    tables serial: it prices moving rows (or partial groups) out of the workers above scanning
    alone. Measured at 1M rows: reconciliation's pairing 2.2 -> 1.4-1.65 s, compliance's parts
    0.83-0.93 -> 0.6-0.85 s. Small tables stay serial anyway (min_parallel_table_scan_size).
    Transaction-local (set_config(..., true)): the connection's later work is unaffected.
    """
    cursor.execute("SELECT set_config('parallel_setup_cost', '0', true), set_config('parallel_tuple_cost', '0.001', true)")


def small_statistics_sample(cursor) -> None:
    """Let this transaction's ANALYZEs sample 3,000 rows (statistics target 10), not 30,000.

    For the tables a set-based job builds and then joins (a file's lines, a run's window and
    pairs, a scan's stages), the planner needs row counts, the distinct counts of keys that are
    (nearly) unique and the few values of a status: a small sample gets those as well, and on a
    million-row table the default one reads nearly every page (reconciliation at 1M: the
    lines' statistics 0.12-0.17 s, the window's and the pairs' 0.43 s, against 0.03-0.07 s).
    """
    cursor.execute("SELECT set_config('default_statistics_target', '10', true)")


def bulk_write_workers(cursor):
    """Run the statements inside with at most `settings.BULK_WRITE_WORKERS` (environment variable,
    default 1) parallel workers each (local_setting).

    In a CREATE TABLE AS of a million rows the workers only compute: the leader process alone
    writes every row they hand it, and is the slowest part. Each worker beyond the database
    server's cores minus one takes CPU from that leader. Measured on a 2-core server at 1M rows,
    five alternating runs each, one worker against two: the import's conversion 1.19 vs
    1.37-1.49 s, the core window 1.02-1.03 vs 1.21-1.23 s, the pairing 1.46 vs 1.68 s (median).
    Raise the setting on a server with more cores. Aggregates that write little keep the
    default (two: reconciliation's repeated references need both).
    """
    return local_setting(cursor, "max_parallel_workers_per_gather", str(settings.BULK_WRITE_WORKERS))


@contextlib.contextmanager
def local_setting(cursor, name: str, value: str):
    """Run the statements inside with the setting `name` at `value`, then restore the transaction's
    value. The setting is transaction-local (set_config(..., true)), so use this inside a
    transaction, as set-based work runs (outside one it would end with its own statement). The
    restore is a statement of the cursor's (Django's): fetch a query's rows inside.

    A statement that fails inside aborts the transaction, and the rollback of the savepoint or
    transaction around this block (transaction.atomic) takes the setting with it. The restore is
    still attempted, for a caller that catches the error elsewhere; in an aborted transaction it
    cannot run, and its own error is ignored.
    """
    cursor.execute("SELECT current_setting(%s), set_config(%s, %s, true)", [name, name, value])
    previous = cursor.fetchone()[0]

    def restore() -> None:
        cursor.execute("SELECT set_config(%s, %s, true)", [name, previous])

    try:
        yield
    except DatabaseError:
        with contextlib.suppress(DatabaseError):
            restore()
        raise
    except Exception:
        restore()
        raise
    restore()
