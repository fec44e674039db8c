"""MT940 bank statements (the `mt-940` package). Each credit :61: line is one settlement."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import mt940

from .csv_format import printable
from .errors import EmptyFileError, FileFormatError
from .profiles import MappingProfile
from .rows import ParsedRow, RowBuilder, RowError, SkippedRow

MAX_BYTES = 512 * 1024 * 1024


def parse_mt940(stream: BinaryIO, profile: MappingProfile) -> Iterator[ParsedRow | RowError | SkippedRow]:
    # MT940 has no row framing a streaming reader could trust (a :86: may span lines), and
    # statements are small (one account-day), so the package parses the whole text.
    data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise FileFormatError("the MT940 statement is larger than 512 MiB")
    text = printable(data.decode(profile.encoding, errors="surrogateescape"))
    if ":61:" not in text:
        raise FileFormatError("not an MT940 statement: no :61: statement line")
    statement = mt940.models.Transactions()
    try:
        statement.parse(text)
    except Exception as exc:  # the package raises assorted types (ValueError, KeyError, RuntimeError...)
        raise FileFormatError(f"not a valid MT940 statement: {type(exc).__name__}: {str(exc)[:200]}") from None
    builder = RowBuilder(profile)
    count = 0
    for position, transaction in enumerate(statement, start=1):
        data = transaction.data
        amount = data.get("amount")
        value = getattr(amount, "amount", None)
        raw_line = printable(
            f":61: {data.get('date')} {data.get('status')} {value} {data.get('customer_reference')}"
            f"//{data.get('bank_reference')} {data.get('transaction_details') or ''}"
        )
        if value is not None and value < 0:
            yield SkippedRow(position, "debit line (not a settlement credit)")
            continue
        count += 1
        raw = {
            profile.mt940_reference_field: data.get("customer_reference"),
            "bank_txn_id": data.get("bank_reference") if profile.mt940_reference_field != "bank_txn_id" else None,
            "amount": value,
            "txn_date": data.get("date"),
            "status": "SUCCESS" if str(data.get("status") or "").upper().endswith("C") else None,
        }
        if str(raw.get("bank_txn_id") or "").upper() == "NONREF":
            raw["bank_txn_id"] = None
        try:
            yield builder.build(position, raw, raw_line)
        except (TypeError, ValueError, AttributeError) as exc:
            yield RowError(position, raw_line[:1000], (f"unreadable statement line: {exc}",))
    if count == 0:
        raise EmptyFileError("the statement has no credit lines")
