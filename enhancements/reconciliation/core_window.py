"""The core transactions a run looks at, as one table on the `default` connection (the run's
`recon_core_r<run>`, an unlogged scratch table: matching.Scratch), with the columns matching
needs already translated in SQL:

- amounts rounded to the paisa (`round(x::numeric, 2)`: core money is float8),
- `paid`: the core status as 'money moved or not', the same precedence as
  core_legacy.conversions.normalise_status (a known sabpaisa_resp_code wins over the word),
- `expected_net`: amount minus the core row's own charges (convcharges + ep_charges + gst;
  conv_gst / endpoint_gst are the breakdown of gst, not extra deductions),
- `trans_day`: the India calendar date (core timestamps are naive India time),
- `trans_at`: trans_date as an instant (timestamptz, read under the core's time zone:
  in_core_time_zone), converted once here: the results store it and every "still unpaired"
  anti-join compares with it, and converting per row in each of those joins cost more than
  the conversion itself.

Same database (the default, as in production): the table is created by one CREATE TABLE AS
from the core table. Core elsewhere: the window is COPied out of `core` into a table of the
same columns (core_legacy.sql's contract). The SQL after that is identical.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import DatabaseError, connection, connections, transaction

from core_legacy.sql import core_is_same_database, core_table
from enhancements.platform.sql_session import bulk_write_workers, local_setting

PAID_CODES = ("0000", "0800", "0600", "0700")
UNPAID_CODES = ("0100", "0200", "0300", "0400")
PAID_WORDS = ("SUCCESS", "SUCCESSFUL", "SUCCESSFULL", "PAID", "SETTLED", "REFUNDINITIATED", "REFUNDED")


def _codes(values) -> str:
    return ", ".join(f"'{v}'" for v in values)


# A known code decides (one to four characters once trimmed, left-padded like normalise_status;
# an empty cell is no code; Python's strip() also drops rarer whitespace, \v \f and the like,
# which no core code carries); else the word. A word already in canonical form skips the regexp
# (the costliest part of the CASE per row); the regexp gives the same answer for it.
_TRIMMED_CODE = r"btrim(sabpaisa_resp_code, E' \t\r\n')"
_CODE = f"CASE WHEN length({_TRIMMED_CODE}) BETWEEN 1 AND 4 THEN lpad({_TRIMMED_CODE}, 4, '0') END"
NORMALISED_PAID_SQL = f"""CASE
    WHEN {_CODE} IN ({_codes(PAID_CODES)}) THEN true
    WHEN {_CODE} IN ({_codes(UNPAID_CODES)}) THEN false
    WHEN status IN ({_codes(PAID_WORDS)}) THEN true
    ELSE upper(regexp_replace(coalesce(status, ''), '[[:space:]_-]', '', 'g')) IN ({_codes(PAID_WORDS)})
END"""
# Nearly every core row carries its code in canonical form: that is compared as it is first (a
# simple CASE reads the cell once), which is the answer the normalised CASE gives it; only other
# cells are trimmed and padded, twice (1M rows: the window 0.91 -> 0.77 s).
PAID_SQL = (
    "CASE sabpaisa_resp_code "
    + " ".join(f"WHEN '{code}' THEN {'true' if code in PAID_CODES else 'false'}" for code in PAID_CODES + UNPAID_CODES)
    + f" ELSE {NORMALISED_PAID_SQL} END"
)


def _exact(x: str) -> str:
    return f"(abs({x}) < 1e9 AND abs({x} * 100 - round({x} * 100)) < 1e-6)"


def paise_sql(x: str) -> str:
    """round(x::numeric, 2) for a float8 expression, exactly (NULL stays NULL), at a fraction of
    the cost: float8 -> numeric goes through a 15-digit decimal string (the costliest step of
    building the window). When 100·x is within 1e-6 of an integer n and |x| < 1e9, that
    15-significant-digit decimal lies within 1e-4 of n/100, so rounding it to the paisa gives
    exactly n/100 = n · 0.01 (scale 2, like round(.., 2)); every other value (a third
    decimal, NaN, infinity, huge) takes the original conversion."""
    return f"CASE WHEN {_exact(x)} THEN round({x} * 100)::bigint * 0.01 ELSE round({x}::numeric, 2) END"


def net_sql(amount: str, charges: list[str]) -> str:
    """paise_sql(amount) minus each paise_sql(charge), exactly. When every term is exact (see
    paise_sql) the difference is taken in integer paise and converted once: numeric arithmetic
    per term was a fifth of building the window (1M rows: about 0.2 s)."""
    exact = " AND ".join(_exact(x) for x in (amount, *charges))
    paise = " - ".join(f"round({x} * 100)::bigint" for x in (amount, *charges))
    fallback = " - ".join(f"({paise_sql(x)})" for x in (amount, *charges))
    return f"CASE WHEN {exact} THEN ({paise}) * 0.01 ELSE {fallback} END"


COLUMNS = (
    "txn_id", "trans_day", "client_id", "client_code", "payment_mode", "bank_txn_id", "pg_txn_id",
    "client_txn_id", "settlement_utr", "amount", "expected_net", "paid", "trans_at",
)  # fmt: skip

REFERENCES = ("bank_txn_id", "pg_txn_id", "client_txn_id", "settlement_utr")  # besides txn_id, always kept

SELECT_SQL = f"""
SELECT txn_id, trans_date::date AS trans_day, client_id, client_code, {{payment_mode}} AS payment_mode,
       {{bank_txn_id}} AS bank_txn_id, {{pg_txn_id}} AS pg_txn_id,
       {{client_txn_id}} AS client_txn_id, {{settlement_utr}} AS settlement_utr,
       amount, {net_sql("coalesce(paid_amount, act_amount)", [f"coalesce({c}, 0)" for c in ("convcharges", "ep_charges", "gst")])}
         AS expected_net,
       paid, trans_date::timestamptz AS trans_at
FROM {{table}}
CROSS JOIN LATERAL (SELECT {paise_sql("coalesce(paid_amount, act_amount)")} AS amount, {PAID_SQL} AS paid) AS money
WHERE trans_date >= '{{start}}'::timestamp AND trans_date < '{{end}}'::timestamp
"""


# Statistics only for the columns the joins and filters use: ANALYZE of every column (text
# sorts included) costs a third of building the window.
ANALYZE_SQL = (
    "ANALYZE {table} (txn_id, trans_day, trans_at, bank_txn_id, pg_txn_id, client_txn_id, settlement_utr, paid, "
    "payment_mode)"
)


def _select(table: str, *, start: dt.date, end: dt.date, references, payment_mode: bool) -> str:
    """The window's SELECT; run it under the core's time zone (in_core_time_zone)."""
    # A reference no rule of the run can use (no rule names it, or the file's lines never carry
    # it) stays empty: a third of the window's width, and its trim per row, saved. So does the
    # payment mode when no rule filters by it. (The window's rows are written by one process:
    # each byte of its width counts. Nor does it keep trans_date: trans_day and trans_at say it.)
    refs = {ref: f"nullif(btrim({ref}), '')" if ref in references else "NULL::text" for ref in REFERENCES}
    mode = "payment_mode" if payment_mode else "NULL::text"
    return SELECT_SQL.format(table=table, start=start.isoformat(), end=end.isoformat(), payment_mode=mode, **refs)


def in_core_time_zone(cursor, tz: str):
    """The session's time zone set to the core's for the statements inside (local_setting: in a
    transaction.atomic of their own). The window reads trans_date::timestamptz, which is
    trans_date AT TIME ZONE tz (the same conversion of a local time, for an IANA zone name like
    CORE_TIME_ZONE, which core_legacy reads with ZoneInfo), without looking the zone up by its
    name for every row (1M rows: 0.06 s). Nothing inside may read an instant back through
    Django: its loader takes the session's zone for UTC."""
    return local_setting(cursor, "TimeZone", tz)


# Local buffers for the session's temporary tables (PostgreSQL's default is 8MB): with them
# the run's mismatch tables stay in memory instead of being written out page by page and read
# back (the window, the pairs and the unpaired lines are unlogged tables in shared buffers).
# They are allocated as used, and kept by the server process until the connection closes (so
# not more than that). PostgreSQL accepts the setting only before the session's first use of
# a temporary table (or when it equals the size already in use), so it is best effort.
# Setting RECONCILIATION_TEMP_BUFFERS.
TEMP_BUFFERS = "512MB"


def raise_temp_buffers(cursor) -> None:
    size = getattr(settings, "RECONCILIATION_TEMP_BUFFERS", TEMP_BUFFERS)
    try:
        with transaction.atomic():
            cursor.execute("SELECT set_config('temp_buffers', %s, true)", [size])
    except DatabaseError:
        pass  # temporary tables were used earlier in this session: keep its size


def prepare_core_window(*, table: str, start: dt.date, end: dt.date, tz: str, references=REFERENCES,
                        payment_mode: bool = True) -> str:
    """Create the unlogged `table` with the core window for India dates [start, end) on
    `default`, inside the caller's transaction (which drops it: matching.drop_scratch); returns
    how it was made. `references`: the reference columns the run matches on (txn_id always);
    `payment_mode`: whether some rule filters by it (else the column is empty)."""
    with connection.cursor() as cursor:
        raise_temp_buffers(cursor)
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        if core_is_same_database():
            # Materialised once: the matching scans the window several times, and reading
            # computed columns is far cheaper than re-evaluating them (the status CASE, the
            # expected net) in every join.
            sql = _select(core_table("transaction_detail"), start=start, end=end, references=references,
                          payment_mode=payment_mode)
            # bulk_write_workers: the leader writes the whole window (see there)
            with transaction.atomic(), in_core_time_zone(cursor, tz), bulk_write_workers(cursor):
                cursor.execute(f"CREATE UNLOGGED TABLE {table} AS {sql}")
            cursor.execute(ANALYZE_SQL.format(table=table))
            return "selected"
        _copy_window_from_core(cursor, table=table, start=start, end=end, tz=tz, references=references,
                               payment_mode=payment_mode)
        return "copied"


def _copy_window_from_core(cursor, *, table: str, start: dt.date, end: dt.date, tz: str, references,
                           payment_mode: bool) -> None:
    # Core in another database: stream the window out of `core` and into the table.
    cursor.execute(
        f"""CREATE UNLOGGED TABLE {table} (
            txn_id text, trans_day date, client_id int, client_code text, payment_mode text,
            bank_txn_id text, pg_txn_id text, client_txn_id text, settlement_utr text,
            amount numeric, expected_net numeric, paid boolean, trans_at timestamptz)"""
    )
    select = _select("transaction_detail", start=start, end=end, references=references, payment_mode=payment_mode)
    # In a transaction (or savepoint) of its own on `core`, which the time zone lasts for; the
    # instants come out with their offset, so this side's zone does not matter.
    with transaction.atomic(using="core"), connections["core"].cursor() as src:
        with in_core_time_zone(src, tz), src.cursor.copy(f"COPY ({select}) TO STDOUT") as out, cursor.cursor.copy(
            f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN"
        ) as into:
            for block in out:
                into.write(block)
    cursor.execute(ANALYZE_SQL.format(table=table))
