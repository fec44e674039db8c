"""The translation of transaction_detail rows, as SQL, for the rows it can do exactly.

Set-based work over millions of rows (the change feed's backfill) cannot afford to send
every row through `read_models.transaction_from_row` in Python. This module renders the
same translation as SQL expressions, but only for rows where SQL provably gives the same
result; `transaction_eligible_sql()` says which rows those are. Every other row (a value
Python would reject, or one whose translation SQL could get subtly different: non-ASCII
text, a float that is not a whole number of paise, a text date, a timestamp before the
zone's current offset, a text date in a format not listed here) goes through the Python
translation as before. So Python stays
the definition; this is a fast path for the common, clean case, and
core_legacy/tests/test_sql_translation.py checks it against Python value by value.

Why each rule is exact on eligible rows:
- text: printable ASCII only, so Python's str.strip() removes exactly the spaces btrim()
  does, and upper()/lower() agree;
- money: |x| < 1e9 and 100x within 1e-6 of an integer n: the float's shortest repr() is
  within ~2e-7 of n/100, so rounding it to the paisa gives n/100 = n * 0.01 (as
  reconciliation's paise_sql); -0.0 (whose repr keeps the sign) is left to Python;
- time: the core zone has one fixed offset since 1946 (Asia/Kolkata: +05:30), so
  isoformat() is the naive value plus that offset.
"""

from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection

from .conversions import _ABSENT_TEXT, STATUS_BY_CODE, STATUS_BY_WORD

# From this instant on, the zone's offset must be constant for the fast path to be used.
FIXED_OFFSET_SINCE = dt.datetime(1946, 1, 1)
_MONEY_COLUMNS = (
    "paid_amount", "act_amount", "payee_amount", "convcharges", "ep_charges", "gst", "conv_gst", "endpoint_gst",
    "settlement_amount", "refunded_amount", "refund_amount", "charge_back_amount",
)  # fmt: skip
_TIME_COLUMNS = ("trans_date", "trans_complete_date", "settlement_date", "refund_initiated_on", "refunded_date",
                 "charge_back_date")  # fmt: skip
_TEXT_COLUMNS = (
    "txn_id", "client_code", "client_txn_id", "status", "sabpaisa_resp_code", "payment_mode", "pg_name",
    "bank_txn_id", "challan_no", "settlement_utr", "settlement_status", "refund_date", "refund_status_code",
    "charge_back_status",
)  # fmt: skip


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def fixed_offset_text() -> str | None:
    """'+05:30' for a core zone with one offset since FIXED_OFFSET_SINCE, else None (no fast path)."""
    return _fixed_offset(settings.CORE_TIME_ZONE)


@functools.lru_cache(maxsize=8)
def _fixed_offset(zone_name: str) -> str | None:
    zone = ZoneInfo(zone_name)
    probes = [dt.datetime(year, month, 15, tzinfo=zone) for year in range(FIXED_OFFSET_SINCE.year, 2101) for month in (1, 7)]
    offsets = {p.utcoffset() for p in probes}
    if len(offsets) != 1:
        return None
    return probes[0].isoformat()[-6:]


def clean_text(expr: str) -> str:
    """conversions.clean_text for ASCII text: trimmed, the core's placeholders as NULL."""
    absent = ", ".join(literal(t) for t in sorted(_ABSENT_TEXT))
    return f"(CASE WHEN lower(btrim({expr}, ' ')) IN ({absent}) THEN NULL ELSE btrim({expr}, ' ') END)"


def unpadded(expr: str) -> str:
    """True when `expr` has no space at either end (btrim(expr, ' ') would return it as it is):
    a test that reads the text without copying it. The '%' are doubled: for statements run
    with parameters (client-side binding)."""
    return f"({expr} NOT LIKE ' %%' AND {expr} NOT LIKE '%% ')"


def money_exact(expr: str) -> str:
    """Whether conversions.money_from_float(expr) is exactly round(100 * expr) paise (or NULL)."""
    return (
        f"({expr} IS NULL OR (abs({expr}) < 1e9 AND abs({expr} * 100 - round({expr} * 100)) < 1e-6"
        f" AND CASE WHEN {expr} = 0 THEN {expr}::text <> '-0' ELSE true END))"
    )


def money(expr: str) -> str:
    """money_from_float for a value money_exact() accepts: numeric with two decimals."""
    return f"(round({expr} * 100)::bigint * 0.01)"


def time_exact(expr: str) -> str:
    return f"({expr} IS NULL OR ({expr} >= '{FIXED_OFFSET_SINCE.isoformat(sep=' ')}' AND {expr} < '10000-01-01'))"


def aware(expr: str) -> str:
    """from_core_naive: the naive India-time value as timestamptz (expr is parenthesised:
    AT TIME ZONE binds tighter than + or -)."""
    return f"(({expr}) AT TIME ZONE {literal(settings.CORE_TIME_ZONE)})"


def isoformat(expr: str, offset: str) -> str:
    """from_core_naive(value).isoformat(): microseconds only when there are some."""
    return (
        f"(to_char({expr}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN date_trunc('second', {expr}) = {expr} "
        f"THEN '' ELSE to_char({expr}, '.US') END || {literal(offset)})"
    )


def status_by_code(code_expr: str) -> str:
    """STATUS_BY_CODE of _code_key(code): digits-only codes are left-padded to four."""
    key = f"(CASE WHEN {code_expr} ~ '^[0-9]{{1,4}}$' THEN lpad({code_expr}, 4, '0') ELSE {code_expr} END)"
    whens = " ".join(f"WHEN {literal(code)} THEN {literal(status.value)}" for code, status in STATUS_BY_CODE.items())
    return f"(CASE {key} {whens} END)"


def status_by_word(word_expr: str) -> str:
    """STATUS_BY_WORD of the upper-cased word without spaces, underscores and hyphens."""
    key = f"upper(regexp_replace({word_expr}, '[[:space:]_-]', '', 'g'))"
    whens = " ".join(f"WHEN {literal(word)} THEN {literal(status.value)}" for word, status in STATUS_BY_WORD.items())
    return f"(CASE {key} {whens} END)"


# The text-date formats of conversions._TEXT_DATE_FORMATS that SQL reads (the seeded and the
# commonest real ones), each as a strict regexp with two-digit fields: anything looser
# (single digits, fractions, other formats) is left to Python's strptime.
_TEXT_DATE_SQL = (
    # %Y-%m-%d %H:%M:%S
    ("^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]) ([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$",
     "make_timestamp(substr({t}, 1, 4)::int, substr({t}, 6, 2)::int, substr({t}, 9, 2)::int, "
     "substr({t}, 12, 2)::int, substr({t}, 15, 2)::int, substr({t}, 18, 2)::int)"),
    # %d-%m-%Y
    ("^(0[1-9]|[12][0-9]|3[01])-(0[1-9]|1[0-2])-[1-9][0-9]{3}$",
     "make_timestamp(substr({t}, 7, 4)::int, substr({t}, 4, 2)::int, substr({t}, 1, 2)::int, 0, 0, 0)"),
)


def _day_exists(year: str, month: str, day: str) -> str:
    # make_timestamp raises on 30 February: check the day against the month's length first.
    return (f"{day}::int <= extract(day from make_date({year}::int, {month}::int, 1) "
            f"+ interval '1 month' - interval '1 day')")  # fmt: skip


def text_date_parsed(expr: str) -> str:
    """datetime_from_text for the formats of _TEXT_DATE_SQL (naive), NULL for anything else.

    Never raises: the fields are range-checked by the regexp and the day by _day_exists
    before make_timestamp sees them.
    """
    t = f"btrim({expr}, ' ')"
    (iso_re, iso_make), (dmy_re, dmy_make) = _TEXT_DATE_SQL
    iso_ok = _day_exists(f"substr({t}, 1, 4)", f"substr({t}, 6, 2)", f"substr({t}, 9, 2)")
    dmy_ok = _day_exists(f"substr({t}, 7, 4)", f"substr({t}, 4, 2)", f"substr({t}, 1, 2)")
    return (
        f"(CASE WHEN {t} ~ {literal(iso_re)} THEN CASE WHEN {iso_ok} THEN {iso_make.format(t=t)} END "
        f"WHEN {t} ~ {literal(dmy_re)} THEN CASE WHEN {dmy_ok} THEN {dmy_make.format(t=t)} END END)"
    )


def transaction_eligible(alias: str) -> str:
    """SQL: whether this transaction_detail row (table alias) translates exactly in SQL and cleanly.

    False (never NULL) for every row that Python must translate, including those it rejects.
    The text refund_date is read by text_date_parsed().
    """
    if fixed_offset_text() is None:
        return "false"

    def col(name: str) -> str:
        return f"{alias}.{connection.ops.quote_name(name)}"

    text = "concat(" + ", ".join(col(c) for c in _TEXT_COLUMNS) + ")"
    refund_date = text_date_parsed(col("refund_date"))
    parts = [
        f"{text} !~ '[^ -~]'",
        f"{clean_text(col('txn_id'))} IS NOT NULL",
        f"{clean_text(col('refund_date'))} IS NULL OR ({refund_date} IS NOT NULL AND {time_exact(refund_date)})",
        f"coalesce({status_by_code(clean_text(col('sabpaisa_resp_code')))}, "
        f"{status_by_word(clean_text(col('status')))}) IS NOT NULL",
        *(money_exact(col(c)) for c in _MONEY_COLUMNS),
        *(time_exact(col(c)) for c in _TIME_COLUMNS),
    ]
    return "coalesce(" + " AND ".join(f"({p})" for p in parts) + ", false)"
