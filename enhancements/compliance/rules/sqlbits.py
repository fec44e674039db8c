"""SQL fragments shared by the scans and the reports: the core's status and text placeholders
translated in SQL exactly as core_legacy.conversions translates them in Python."""

from __future__ import annotations

from core_legacy.conversions import STATUS_BY_CODE, STATUS_BY_WORD, PaymentStatus
from core_legacy.sql_translation import aware as aware_sql  # noqa: F401  (the scans import it from here)
from core_legacy.sql_translation import literal as _literal
from core_legacy.sql_translation import unpadded

# Statuses in which the payer's money reached the merchant side.
RECEIVED = (PaymentStatus.SUCCESS, PaymentStatus.SETTLED, PaymentStatus.REFUND_INITIATED, PaymentStatus.REFUNDED)
_ABSENT = ("", "na", "n/a", "null", "none", "nil", "-")
# identity_sql's shortcut relies on every placeholder being plain ASCII and at most 6 characters.
assert all(word.isascii() and len(word) <= 6 for word in _ABSENT)


def _code_spellings(code: str) -> list[str]:
    # '0000' is also written '0', '00', '000'; '0300' also '300' (conversions._code_key pads to 4).
    bare = code.lstrip("0") or "0"
    return [bare.zfill(n) for n in range(len(bare), 5)]


def status_sql(alias: str = "t") -> str:
    """A CASE giving the normalised PaymentStatus name of a transaction_detail row (NULL if unknown).

    The code wins when known (as in normalise_status); the word is looked at only otherwise.
    """
    code_whens = " ".join(
        f"WHEN btrim({alias}.sabpaisa_resp_code) IN ({', '.join(map(_literal, _code_spellings(code)))}) THEN {_literal(status.value)}"
        for code, status in STATUS_BY_CODE.items()
    )
    word_whens = " ".join(f"WHEN {_literal(word)} THEN {_literal(status.value)}" for word, status in STATUS_BY_WORD.items())
    word = f"regexp_replace(upper(btrim({alias}.status)), '[[:space:]_-]', '', 'g')"
    return f"(CASE {code_whens} ELSE (CASE {word} {word_whens} END) END)"


def received_sql(alias: str = "t") -> str:
    """True when the row's normalised status is a received one. Canonical codes take a fast path
    (no trimming, no word parsing): on a 1M-row month this is most of the cost of the check."""
    received_codes = [code for code, status in STATUS_BY_CODE.items() if status in RECEIVED]
    other_codes = [code for code, status in STATUS_BY_CODE.items() if status not in RECEIVED]
    full = f"{status_sql(alias)} IN ({', '.join(_literal(s.value) for s in RECEIVED)})"
    return (f"(CASE WHEN {alias}.sabpaisa_resp_code IN ({', '.join(map(_literal, received_codes))}) THEN true "
            f"WHEN {alias}.sabpaisa_resp_code IN ({', '.join(map(_literal, other_codes))}) THEN false ELSE coalesce({full}, false) END)")


def clean_text_sql(expr: str, *, lower: bool = True) -> str:
    """Trimmed text, NULL for the core's placeholders ('NA', 'null', ...); lower-cased for identities."""
    value = f"lower(btrim({expr}))" if lower else f"btrim({expr})"
    return f"(CASE WHEN lower(btrim({expr})) IN ({', '.join(map(_literal, _ABSENT))}) THEN NULL ELSE {value} END)"


def identity_sql(*exprs: str) -> str:
    """The first usable identity among `exprs`, trimmed and lower-cased (placeholders skipped).

    A value longer than any placeholder (more than 6 bytes) with no space to trim at either end
    skips the placeholder test (the common case); a padded one ('NA      ') is trimmed and
    tested like any other. (Bytes, not characters: a longer non-ASCII value cannot equal an
    ASCII placeholder, and octet_length() costs nothing where length() counts characters.)
    Callers pass parameters with the SQL (sql_translation.unpadded).
    When every candidate is plain ASCII (octet length = character length; NULL passes) the value
    is lower-cased under the "C" collation: a byte loop instead of the locale's wide-character
    conversion, the same result for ASCII and several times cheaper (most of the core pass's cost
    on a month of rows). Only one CASE branch runs, so the expression is not evaluated twice.
    """
    def usable(expr: str) -> str:
        return (f"(CASE WHEN octet_length({expr}) > 6 AND {unpadded(expr)} THEN {expr} "
                f"WHEN lower(btrim({expr})) IN "
                f"({', '.join(map(_literal, _ABSENT))}) THEN NULL ELSE {expr} END)")

    value = f"btrim(coalesce({', '.join(usable(e) for e in exprs)}))"
    ascii_only = " AND ".join(f"(octet_length({e}) = length({e})) IS NOT FALSE" for e in exprs)
    return f"(CASE WHEN {ascii_only} THEN lower({value} COLLATE \"C\") ELSE lower({value}) END) COLLATE \"default\""


def paise_sql(expr: str) -> str:
    """float8 rupees -> bigint paise. Exact for every amount with at most two decimals (all the
    core writes); integer sums are exact and far cheaper than numeric over a month of rows."""
    return f"round(({expr}) * 100)::bigint"


def mask_sql(expr: str) -> str:
    """Keep the first two and last two characters (and an e-mail's domain), star the rest."""
    return (
        f"(CASE WHEN {expr} LIKE '%%@%%' THEN left(split_part({expr}, '@', 1), 2) || '***@' || split_part({expr}, '@', 2) "
        f"WHEN length({expr}) <= 4 THEN '****' ELSE left({expr}, 2) || repeat('*', length({expr}) - 4) || right({expr}, 2) END)"
    )


def money_sql(expr: str) -> str:
    # float8 -> numeric uses the shortest round-trip text in PostgreSQL >= 12, then half-up to paise
    # (numeric round() rounds half away from zero), matching conversions.money_from_float.
    return f"round(({expr})::numeric, 2)"
