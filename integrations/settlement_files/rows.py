"""Turn one file line's raw values into a canonical entry, or into a row-level error.

Every check a line can fail is here, so the three formats report bad lines the same way.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from core_legacy.conversions import quantize_paise

from .profiles import ENTRY_FIELDS, REFERENCE_FIELDS, MappingProfile

MAX_TEXT = 100
# numeric(14, 2) in the staging table; anything near it is a corrupted line, not a payment.
MAX_AMOUNT = Decimal("100000000000")
_AMOUNT = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{2,3})*|\d+)(?:\.\d+)?$|^[+-]?\.\d+$")
_PAISE = re.compile(r"^[+-]?\d+$")
_CURRENCY_PREFIX = re.compile(r"^(?:rs\.?|inr|₹)\s*", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class ParsedRow:
    line_no: int
    values: tuple  # ENTRY_FIELDS order

    def as_dict(self) -> dict:
        return dict(zip(ENTRY_FIELDS, self.values, strict=True))


@dataclasses.dataclass(frozen=True)
class RowError:
    line_no: int
    raw: str
    errors: tuple[str, ...]

    @property
    def message(self) -> str:
        return "; ".join(self.errors)


@dataclasses.dataclass(frozen=True)
class SkippedRow:
    """A line that is valid but not a settlement (an MT940 debit, a blank line)."""

    line_no: int
    reason: str


_BAD_CHARS = re.compile("[\x00\udc80-\udcff]")
_ABSENT = frozenset(("", "na", "null", "-"))
ABSENT_WORDS = _ABSENT  # cells that mean "no value"; the bulk import's SQL reads them the same way
# Fast paths for the common shapes (plain amounts, 'date time' stamps); anything else takes
# the general path below, so the fast paths change speed, never results.
_PLAIN_RUPEES = re.compile(r"-?\d{1,11}(?:\.\d{1,2})?")
_PLAIN_PAISE = re.compile(r"-?\d{1,13}")
_TIME = re.compile(r"([01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?")
_TIME_SUFFIXES = (" %H:%M:%S", " %H:%M", " %H:%M:%S.%f")


def _bad_chars(text: str) -> str | None:
    found = _BAD_CHARS.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "contains a NUL byte"
    return "bytes that are not valid in the file's encoding"


class RowBuilder:
    """Builds ParsedRow/RowError from {canonical field: raw value} for one profile."""

    def __init__(self, profile: MappingProfile) -> None:
        self.profile = profile
        self.mapped = set(profile.columns) if profile.file_format != "mt940" else set()
        self._dates: dict[str, dt.date | None] = {}
        self.paise = profile.amount_unit == "paise"
        # 'date time' formats whose date part can be parsed once per day (the time part is
        # only validated): {date format: True}.
        self._day_formats = [f[: -len(suffix)] for f in profile.date_formats for suffix in _TIME_SUFFIXES
                             if f.endswith(suffix)]  # fmt: skip

    def text(self, field: str, value, errors: list[str]) -> str | None:
        if value is None:
            return None
        text = (value if value.__class__ is str else str(value)).strip()
        if len(text) <= 4 and text.lower() in _ABSENT:
            return None
        problem = _bad_chars(text)
        if problem:
            errors.append(f"{field}: {problem}")
            return None
        if len(text) > MAX_TEXT:
            errors.append(f"{field}: longer than {MAX_TEXT} characters")
            return None
        return text

    def money(self, field: str, value, errors: list[str]) -> Decimal | None:
        if value.__class__ is str:
            if self.paise:
                if _PLAIN_PAISE.fullmatch(value):
                    return Decimal(value).scaleb(-2)
            elif _PLAIN_RUPEES.fullmatch(value):
                return Decimal(value)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, bool):
            errors.append(f"{field}: {value!r} is not an amount")
            return None
        if isinstance(value, (int, float, Decimal)):
            text = repr(value) if isinstance(value, float) else str(value)
        else:
            text = _CURRENCY_PREFIX.sub("", str(value).strip()).replace(" ", "")
        pattern = _PAISE if self.profile.amount_unit == "paise" else _AMOUNT
        if not pattern.match(text):
            unit = "a whole number of paise" if self.profile.amount_unit == "paise" else "an amount in rupees"
            errors.append(f"{field}: {str(value)[:40]!r} is not {unit}")
            return None
        try:
            amount = Decimal(text.replace(",", ""))
        except InvalidOperation:  # pragma: no cover - the patterns admit only numbers
            errors.append(f"{field}: {str(value)[:40]!r} is not an amount")
            return None
        if self.profile.amount_unit == "paise":
            amount = amount / 100
        # Tested before rounding too: a long enough run of digits has more than the 28 significant
        # digits Decimal.quantize can hold, and would raise instead of being reported.
        if abs(amount) >= MAX_AMOUNT or abs(amount := quantize_paise(amount)) >= MAX_AMOUNT:
            errors.append(f"{field}: {str(value)[:40]!r} is out of range")
            return None
        return amount

    def date(self, value, errors: list[str]) -> dt.date | None:
        if value is None:
            return None
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        text = str(value).strip()
        if not text:
            return None
        if self._day_formats and " " in text:
            day_text, _, time_text = text.partition(" ")
            if _TIME.fullmatch(time_text):
                day = self._day_of(day_text)
                if day is not None:
                    return day
        if text in self._dates:
            parsed = self._dates[text]
        else:
            parsed = None
            for fmt in self.profile.date_formats:
                try:
                    parsed = dt.datetime.strptime(text, fmt).date()
                    break
                except ValueError:
                    continue
            if len(self._dates) < 100_000:
                self._dates[text] = parsed
        if parsed is None:
            errors.append(f"txn_date: {text[:40]!r} matches none of the formats {', '.join(self.profile.date_formats)}")
        return parsed

    def _day_of(self, text: str) -> dt.date | None:
        key = "\x01" + text
        if key in self._dates:
            return self._dates[key]
        day = None
        for fmt in self._day_formats:
            try:
                day = dt.datetime.strptime(text, fmt).date()
                break
            except ValueError:
                continue
        if len(self._dates) < 100_000:
            self._dates[key] = day
        return day

    def build(self, line_no: int, raw: Mapping[str, object], raw_line: str) -> ParsedRow | RowError:
        errors: list[str] = []
        text = self.text
        refs = [text(f, raw[f], errors) if f in raw else None for f in REFERENCE_FIELDS]
        if not any(refs) and not errors:
            names = ", ".join(self.profile.columns.get(f, f) for f in REFERENCE_FIELDS if f in self.mapped) or "reference"
            errors.append(f"missing reference: {names} is empty")
        amount = self.money("amount", raw.get("amount"), errors)
        fee = self.money("fee", raw.get("fee"), errors)
        tax = self.money("tax", raw.get("tax"), errors)
        net = self.money("net", raw.get("net"), errors)
        if amount is None and net is None and not any(e.startswith(("amount", "net")) for e in errors):
            errors.append("missing amount")
        has_fee_info = bool({"fee", "net"} & self.mapped)
        if amount is None:
            amount = net
        if net is None and amount is not None:
            deducted = (fee or 0) + (0 if self.profile.fee_includes_gst else (tax or 0))
            net = quantize_paise(amount - deducted)
        txn_date = None
        if "txn_date" in self.mapped or self.profile.file_format == "mt940":
            txn_date = self.date(raw.get("txn_date"), errors)
            if txn_date is None and not any(e.startswith("txn_date") for e in errors):
                errors.append("missing txn_date")
        status = None
        status_text = self.text("status", raw.get("status"), errors)
        if status_text is not None:
            status = self.profile.status_of(status_text)
            if status is None:
                errors.append(f"status: unknown value {status_text[:40]!r}")
        payment_mode = self.text("payment_mode", raw.get("payment_mode"), errors)
        if errors:
            return RowError(line_no, raw_line[:1000], tuple(errors))
        return ParsedRow(line_no, (*refs, amount, fee, tax, net, has_fee_info, txn_date, status, payment_mode))


_MISSING = object()


def fast_status(profile: MappingProfile, raw: str) -> str | None:
    """The fast path's reading of a status cell: None means 'let the general path decide'."""
    text = raw.strip()
    if not text or (len(text) <= 4 and text.lower() in _ABSENT) or _BAD_CHARS.search(text):
        return None
    return profile.status_of(text)


def fast_csv_builder(builder: RowBuilder, index: Mapping[str, int]):
    """A per-profile fast path for CSV rows: returns the entry tuple for a clean row, or None
    when anything is unusual (the caller then runs RowBuilder.build, which reports why).
    It never accepts what build() would reject; it only skips build()'s generality."""
    profile = builder.profile
    ref_idx = [index.get(f) for f in REFERENCE_FIELDS]
    amount_i, fee_i, tax_i, net_i = (index.get(f) for f in ("amount", "fee", "tax", "net"))
    date_i, status_i, mode_i = index.get("txn_date"), index.get("status"), index.get("payment_mode")
    paise = builder.paise
    fullmatch = (_PLAIN_PAISE if paise else _PLAIN_RUPEES).fullmatch
    bad = _BAD_CHARS.search
    has_fee_info = bool({"fee", "net"} & builder.mapped)
    fee_includes_gst = profile.fee_includes_gst
    statuses: dict[str, str | None] = {}
    day_of = builder._day_of
    time_ok = _TIME.fullmatch
    day_formats = builder._day_formats

    def money(i):
        if i is None:
            return None
        v = row_[0][i]
        if not v:
            return None
        if not fullmatch(v):
            raise ValueError
        d = Decimal(v)
        return d.scaleb(-2) if paise else d

    row_ = [None]

    def build(row: list[str]) -> tuple | None:
        refs = []
        found = False
        for i in ref_idx:
            if i is None:
                refs.append(None)
                continue
            v = row[i].strip()
            if not v or (len(v) <= 4 and v.lower() in _ABSENT):
                refs.append(None)
                continue
            if len(v) > MAX_TEXT or bad(v):
                return None
            refs.append(v)
            found = True
        if not found:
            return None
        row_[0] = row
        try:
            amount, fee, tax, net = money(amount_i), money(fee_i), money(tax_i), money(net_i)
        except ValueError:
            return None
        if amount is None:
            if net is None:
                return None
            amount = net
        if net is None:
            net = quantize_paise(amount - (fee or 0) - (0 if fee_includes_gst else (tax or 0)))
        day = None
        if date_i is not None:
            text = row[date_i].strip()
            if not day_formats or " " not in text:
                return None
            day_text, _, time_text = text.partition(" ")
            if not time_ok(time_text):
                return None
            day = day_of(day_text)
            if day is None:
                return None
        status = None
        if status_i is not None:
            raw = row[status_i]
            status = statuses.get(raw, _MISSING)
            if status is _MISSING:
                status = fast_status(profile, raw)
                if status is None:
                    return None
                if len(statuses) < 1000:
                    statuses[raw] = status
        mode = None
        if mode_i is not None:
            mode = row[mode_i].strip()
            if not mode or (len(mode) <= 4 and mode.lower() in _ABSENT):
                mode = None
            elif len(mode) > MAX_TEXT or bad(mode):
                return None
        return (*refs, amount, fee, tax, net, has_fee_info, day, status, mode)

    return build
