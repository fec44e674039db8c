"""The set-based core of the feed: find changed core rows in SQL, turn them into events.

For a range of transaction_detail, one statement on the `default` connection reads the
needed columns from the core table (same database, read only), hashes the tracked
columns in SQL (hash_record_extended) and anti-joins that hash against TxnState, so only
new or changed rows are processed. Clean rows are translated, turned into events and
recorded inside that statement (in_sql.py); the rest come back to Python and go through the
core_legacy read model. TxnState, FeedError, the watermark and the events are written in
ONE transaction. Transaction-scoped advisory locks (one per
trans_date day) serialise concurrent pollers; stable event keys make a lost race a no-op.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Iterable

from django.conf import settings
from django.db import connection, transaction

from core_legacy.errors import LegacyValueError
from core_legacy.fields import from_core_naive
from core_legacy.read_models import TRANSACTION_COLUMNS, transaction_from_row
from core_legacy.sql import core_table

from . import derive, in_sql
from .models import FeedError, FeedState, TxnState
from enhancements.events.outbox import announce_on_commit, publish_many as publish_events

TRANSACTIONS = FeedState.Source.TRANSACTIONS.value
# pg_advisory_xact_lock keys. Transactions are locked per trans_date day (class, day number),
# taken in ascending order (no deadlock): overlapping runs serialise day by day, while a
# backfill can process different days in parallel.
LOCK_CLASS_TRANSACTION_DAY = 0x43465458  # "CFTX"
LOCK_OLD_ROW_SWEEP_DAY = -1
LOCK_REFUND_REQUESTS = 0x43_46_52_52_51  # "CFRRQ"
_EPOCH = dt.date(2000, 1, 1)
_OPEN_RANGE_DAYS = 2  # an open-ended last range holds rows up to a day or two in the future


def lock_days(lo: dt.datetime | None, hi: dt.datetime | None) -> list[int]:
    """Day numbers whose locks a range takes (naive India-time bounds; lo None = old-row sweep)."""
    if lo is None:
        return [LOCK_OLD_ROW_SWEEP_DAY]
    first = (lo.date() - _EPOCH).days
    last = (((hi - dt.timedelta(microseconds=1)).date() if hi is not None else lo.date()) - _EPOCH).days
    return list(range(first, last + 1 + (_OPEN_RANGE_DAYS if hi is None else 0)))


# Columns whose change can change an event or its payload (PII is left out: it never
# drives an event, and a masked copy is not sent).
TRACKED_COLUMNS = tuple(c for c in TRANSACTION_COLUMNS if c not in ("payee_email", "payee_mob", "vpa"))
# The core's lifecycle time columns: their greatest value is a row's change time (watermark).
TIME_COLUMNS = ("trans_date", "trans_complete_date", "settlement_date", "refund_initiated_on", "refunded_date",
                "charge_back_date", "transaction_tracker_time")  # fmt: skip


def _q(column: str) -> str:
    return connection.ops.quote_name(column)


# Columns the read model translates but no event, fact or feed error depends on: they are
# not read (NULL is passed instead), which spares the transfer and the masking per row.
# They cannot fail translation (clean_text/mask never raise); pg_txn_id stays tracked.
UNUSED_COLUMNS = frozenset({"payee_email", "payee_mob", "vpa", "pg_txn_id"})


def _changed_rows_sql(where: str) -> str:
    columns = ", ".join(
        f"NULL::text AS {_q(c)}" if c in UNUSED_COLUMNS else f"td.{_q(c)}" for c in TRANSACTION_COLUMNS
    )
    tracked = ", ".join(f"td.{_q(c)}" for c in TRACKED_COLUMNS)
    times = ", ".join(f"td.{_q(c)}" for c in TIME_COLUMNS)
    return f"""
        SELECT c.*, s.events_mask, s.fingerprint IS NOT NULL AS known
        FROM (
            SELECT {columns},
                   hash_record_extended(ROW({tracked}), 0) AS fp,
                   GREATEST({times}) AS changed_at
            FROM {core_table("transaction_detail")} td
            WHERE {where}
        ) c
        LEFT JOIN (
            SELECT txn_id, fingerprint, events_mask FROM {TxnState._meta.db_table}
            WHERE trans_date >= %(state_lo)s AND trans_date < %(state_hi)s
        ) s ON s.txn_id = c.txn_id
        WHERE s.fingerprint IS DISTINCT FROM c.fp
    """


@dataclasses.dataclass
class RangeReport:
    lo: dt.datetime | None
    hi: dt.datetime | None
    rows_changed: int = 0
    events: int = 0
    errors: int = 0
    watermark: dt.datetime | None = None


_STATE_STAGING = "changefeed_txn_state_in"


def _upsert_states(rows: list[tuple], now: dt.datetime) -> None:
    """Write (txn_id, trans_date, fingerprint, events_mask) rows: binary COPY into a temp table
    (rows are formatted in C), then one INSERT ... SELECT ... ON CONFLICT."""
    if not rows:
        return
    with connection.connection.cursor() as cur:
        cur.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_STATE_STAGING} "
            "(txn_id text, trans_date timestamptz, fingerprint int8, events_mask int4) ON COMMIT DELETE ROWS"
        )
        with cur.copy(f"COPY {_STATE_STAGING} FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["text", "timestamptz", "int8", "int4"])
            write = copy.write_row
            for row in rows:
                write(row)
        cur.execute(
            f"""
            INSERT INTO {TxnState._meta.db_table} AS s (txn_id, trans_date, fingerprint, events_mask, updated_at)
            SELECT u.txn_id, u.trans_date, u.fingerprint, u.events_mask, %s FROM {_STATE_STAGING} u
            ON CONFLICT (txn_id) DO UPDATE SET
                trans_date = EXCLUDED.trans_date, fingerprint = EXCLUDED.fingerprint,
                events_mask = s.events_mask | EXCLUDED.events_mask, updated_at = EXCLUDED.updated_at
            """,
            [now],
        )
        cur.execute(f"TRUNCATE {_STATE_STAGING}")


def record_errors(errors: Iterable[LegacyValueError], now: dt.datetime) -> int:
    """Upsert feed errors (one row per table/key/column; a repeat bumps occurrences)."""
    rows = {}
    for e in errors:
        key = str(e.key[0] if isinstance(e.key, tuple) else e.key)
        rows[(e.table, key, e.column)] = ("" if e.value is None else repr(e.value)[:2000], str(e))
    if not rows:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {FeedError._meta.db_table} AS f
                (source_table, row_key, column_name, value, message, first_seen_at, last_seen_at, occurrences)
            SELECT u.t, u.k, u.c, u.v, u.m, %s, %s, 1
            FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[]) AS u(t, k, c, v, m)
            ON CONFLICT (source_table, row_key, column_name) DO UPDATE SET
                value = EXCLUDED.value, message = EXCLUDED.message, last_seen_at = EXCLUDED.last_seen_at,
                occurrences = f.occurrences + 1, resolved_at = NULL
            """,
            [now, now, *(list(col) for col in zip(*((k[0], k[1], k[2], v[0], v[1]) for k, v in rows.items())))],
        )
    return len(rows)


def resolve_errors(table: str, keys: list[str], now: dt.datetime) -> None:
    """Rows that translated cleanly now: close their open errors."""
    if keys:
        FeedError.objects.filter(source_table=table, row_key__in=keys, resolved_at__isnull=True).update(resolved_at=now)


def sync_transaction_range(
    *,
    where: str,
    params: dict,
    state_lo: dt.datetime,
    state_hi: dt.datetime,
    baseline: bool,
    batch_size: int,
    report: RangeReport,
) -> RangeReport:
    """Process the core rows matching `where` (SQL on alias td) in one transaction.

    state_lo/state_hi (aware) bound the TxnState rows the range can match, so the join
    reads only that slice of the state table.
    """
    now = dt.datetime.now(dt.timezone.utc)
    open_errors = FeedError.objects.filter(source_table=TRANSACTIONS, resolved_at__isnull=True).exists()
    n_cols = len(TRANSACTION_COLUMNS)
    fp_at, changed_at, mask_at, known_at = n_cols, n_cols + 1, n_cols + 2, n_cols + 3
    skip = in_sql.SUMMARY_COLUMNS
    statement = in_sql.range_statement(
        _changed_rows_sql(where), open_errors=open_errors, enabled=getattr(settings, "CHANGEFEED_SQL_TRANSLATION", True)
    )
    with transaction.atomic():
        with connection.cursor() as cursor:
            # The range statement is large and its row estimates big: PostgreSQL would JIT-compile
            # it on every run (measured: 0.2 s per statement, more than an idle poll's scan).
            cursor.execute("SET LOCAL jit = off")
            # lock_days is ascending and unnest keeps that order.
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, d) FROM unnest(%s::int[]) AS d",
                [LOCK_CLASS_TRANSACTION_DAY, lock_days(report.lo, report.hi)],
            )
        connection.ensure_connection()
        # Clean rows are handled inside the statement (in_sql); it returns the others.
        with connection.connection.cursor() as cur:
            cur.execute(
                statement,
                {**params, "state_lo": state_lo, "state_hi": state_hi, "now": now, "baseline": baseline},
            )
            first = cur.fetchone()
            taken, sql_watermark, sql_events, sql_event_types = first[:skip]
            report.rows_changed += taken
            report.events += sql_events
            announce_on_commit(sql_event_types or ())
            if sql_watermark is not None:
                report.watermark = max(filter(None, (report.watermark, from_core_naive(sql_watermark))))
            # The summary row also carries the first left-over row, if any (LEFT JOIN ... ON true).
            leftovers = [[first]] if first[skip + fp_at] is not None else []
            for batch in itertools.chain(leftovers, iter(lambda: cur.fetchmany(batch_size), [])):
                states, events, errors, clean_keys = [], [], [], []
                watermark = report.watermark
                for full_row in batch:
                    row = full_row[skip:]
                    values = dict(zip(TRANSACTION_COLUMNS, row[:n_cols]))
                    old_mask = row[mask_at] or 0
                    try:
                        txn = transaction_from_row(values)
                    except LegacyValueError as exc:
                        errors.append(exc)
                        # Remember the hash: the row is re-read only when the core changes it again.
                        states.append((values["txn_id"], from_core_naive(values["trans_date"]), row[fp_at], old_mask))
                        continue
                    facts = derive.transaction_facts(txn)
                    if not baseline:
                        events.extend(derive.transaction_events(txn, facts & ~old_mask, now))
                    states.append((txn.txn_id, txn.trans_date, row[fp_at], old_mask | facts))
                    if open_errors and row[known_at]:
                        clean_keys.append(txn.txn_id)
                    if row[changed_at] is not None:
                        changed = from_core_naive(row[changed_at])
                        if watermark is None or changed > watermark:
                            watermark = changed
                _upsert_states(states, now)
                report.events += publish_events(events)
                report.errors += record_errors(errors, now)
                resolve_errors(TRANSACTIONS, clean_keys, now)
                report.rows_changed += len(batch)
                report.watermark = watermark
        if report.watermark is not None:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {FeedState._meta.db_table} SET watermark = GREATEST(watermark, %s) WHERE source = %s",
                    [report.watermark, TRANSACTIONS],
                )
    return report
