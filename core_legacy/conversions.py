"""Translate legacy values into clean ones. Pure functions, property-tested.

Every function takes the value plus where it came from (table, key, column) so that a
value it cannot translate raises LegacyValueError naming the row and column. Nothing
unparseable silently becomes 0 or None.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from .errors import LegacyValueError
from .fields import from_core_naive

PAISA = Decimal("0.01")
# Placeholders the core writes where a value is absent (callbacks send "NA"/"null").
_ABSENT_TEXT = {"", "na", "n/a", "null", "none", "nil", "-"}
_TEXT_AMOUNT = re.compile(r"^(?P<sign>-)?(?:rs\.?|inr|₹)?\s*(?P<num>\d[\d,]*(?:\.\d+)?|\.\d+)$", re.IGNORECASE)


def quantize_paise(value: Decimal) -> Decimal:
    """Round to the paisa, half away from zero (the rule used throughout this service)."""
    return value.quantize(PAISA, rounding=ROUND_HALF_UP)


def money_from_float(value: float | None, *, table: str, key: object, column: str) -> Decimal | None:
    """float8 money -> Decimal exact to the paisa.

    The float's shortest round-trip text is the decimal the Java core meant (1234.56 is
    stored as 1234.5599999999999 but repr()s as '1234.56'), then rounded half-up to paise.
    """
    if value is None:
        return None
    if isinstance(value, Decimal):
        return quantize_paise(value)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise LegacyValueError(table=table, key=key, column=column, value=value, reason="not a finite amount")
    return _quantized(Decimal(repr(float(value))), table=table, key=key, column=column, value=value)


def money_from_text(value: str | None, *, table: str, key: object, column: str) -> Decimal | None:
    """text/varchar money ('1,234.50', ' 500 ', 'Rs. 100', 'NA') -> Decimal or None."""
    if value is None:
        return None
    text = str(value).strip()
    if text.lower() in _ABSENT_TEXT:
        return None
    match = _TEXT_AMOUNT.match(text.replace(" ", ""))
    if not match:
        raise LegacyValueError(table=table, key=key, column=column, value=value, reason="not an amount")
    number = match.group("num").replace(",", "")
    try:
        amount = Decimal(number)
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only digits
        raise LegacyValueError(table=table, key=key, column=column, value=value, reason="not an amount") from exc
    return _quantized(-amount if match.group("sign") else amount, table=table, key=key, column=column, value=value)


def _quantized(amount: Decimal, *, table: str, key: object, column: str, value: object) -> Decimal:
    # Decimal's default context holds 28 digits: an amount of 10^26 rupees or more cannot
    # be expressed to the paisa. No real payment is that large, so it is a bad value.
    try:
        return quantize_paise(amount)
    except InvalidOperation as exc:
        raise LegacyValueError(table=table, key=key, column=column, value=value, reason="amount too large") from exc


def clean_text(value: str | None) -> str | None:
    """Trim, and read the core's placeholders ('NA', 'null', '') as absent."""
    if value is None:
        return None
    text = str(value).strip()
    return None if text.lower() in _ABSENT_TEXT else text


def aware_from_core(value: dt.datetime | None) -> dt.datetime | None:
    """A core timestamp (naive India time) as an aware datetime."""
    return from_core_naive(value)


_TEXT_DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d",
    "%d-%m-%Y %H:%M:%S",
    "%d-%m-%Y",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y",
    "%a %b %d %H:%M:%S IST %Y",  # Java Date.toString() in India: 'Wed Dec 21 16:26:28 IST 2022'
)


def datetime_from_text(value: str | None, *, table: str, key: object, column: str) -> dt.datetime | None:
    """Text dates (e.g. transaction_detail.refund_date) in the formats the core writes."""
    text = clean_text(value)
    if text is None:
        return None
    for fmt in _TEXT_DATE_FORMATS:
        try:
            return from_core_naive(dt.datetime.strptime(text, fmt))
        except ValueError:
            continue
    raise LegacyValueError(table=table, key=key, column=column, value=value, reason="not a date the core writes")


class PaymentStatus(str, enum.Enum):
    SUCCESS = "SUCCESS"
    INITIATED = "INITIATED"
    ABORTED = "ABORTED"
    FAILED = "FAILED"
    CHALLAN_GENERATED = "CHALLAN_GENERATED"
    REFUND_INITIATED = "REFUND_INITIATED"
    REFUNDED = "REFUNDED"
    SETTLED = "SETTLED"


# SabPaisa developer guide.
STATUS_BY_CODE = {
    "0000": PaymentStatus.SUCCESS,
    "0100": PaymentStatus.INITIATED,
    "0200": PaymentStatus.ABORTED,
    "0300": PaymentStatus.FAILED,
    "0400": PaymentStatus.CHALLAN_GENERATED,
    "0600": PaymentStatus.REFUND_INITIATED,
    "0700": PaymentStatus.REFUNDED,
    "0800": PaymentStatus.SETTLED,
}
CODE_BY_STATUS = {status: code for code, status in STATUS_BY_CODE.items()}
# Words seen in `status`, upper-cased with spaces/underscores/hyphens removed.
STATUS_BY_WORD = {
    "SUCCESS": PaymentStatus.SUCCESS,
    "SUCCESSFUL": PaymentStatus.SUCCESS,
    "SUCCESSFULL": PaymentStatus.SUCCESS,
    "PAID": PaymentStatus.SUCCESS,
    "INITIATED": PaymentStatus.INITIATED,
    "PENDING": PaymentStatus.INITIATED,
    "ABORTED": PaymentStatus.ABORTED,
    "ABORT": PaymentStatus.ABORTED,
    "FAILED": PaymentStatus.FAILED,
    "FAIL": PaymentStatus.FAILED,
    "FAILURE": PaymentStatus.FAILED,
    "CHALLANGENERATED": PaymentStatus.CHALLAN_GENERATED,
    "REFUNDINITIATED": PaymentStatus.REFUND_INITIATED,
    "REFUNDED": PaymentStatus.REFUNDED,
    "SETTLED": PaymentStatus.SETTLED,
}


def _code_key(code: str | None) -> str | None:
    text = clean_text(code)
    if text is None:
        return None
    # Codes arrive as '0000', '0', ' 300' ...: digits only, left-padded to four.
    return text.zfill(4) if text.isdigit() and len(text) <= 4 else text


def normalise_status(
    word: str | None, code: str | None, *, table: str, key: object
) -> tuple[PaymentStatus, bool]:
    """One status from `status` and `sabpaisa_resp_code`, plus whether they disagreed.

    The code wins when it is a known code (it is what the bank integration set; the
    word is free text). Otherwise the word decides. Neither usable: LegacyValueError.
    """
    by_code = STATUS_BY_CODE.get(_code_key(code) or "")
    word_text = clean_text(word)
    by_word = None
    if word_text is not None:
        by_word = STATUS_BY_WORD.get(re.sub(r"[\s_\-]", "", word_text.upper()))
    if by_code is not None:
        return by_code, by_word is not None and by_word is not by_code
    if by_word is not None:
        return by_word, False
    column = "status" if code is None or _code_key(code) is None else "sabpaisa_resp_code"
    value = word if column == "status" else code
    raise LegacyValueError(
        table=table, key=key, column=column, value=value, reason="neither status nor sabpaisa_resp_code is known"
    )
