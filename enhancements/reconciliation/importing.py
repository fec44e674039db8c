"""Import a settlement file: hash it, refuse a second copy, parse it in one streaming pass
and COPY its good lines into the staging table (reconciliation_entries).

Bad lines are reported row by row (QuarantinedRow). With BadRows.QUARANTINE the good
lines are imported; with ALL_OR_NOTHING nothing is, and the file is recorded as
rejected with its report (so the operator sees why).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable
from typing import BinaryIO

from django.db import IntegrityError, connection, transaction

from integrations.settlement_files import (
    ENTRY_FIELDS,
    REFERENCE_FIELDS,
    MappingProfile,
    ParsedRow,
    RowError,
    SettlementFileError,
    SkippedRow,
    parse,
)

from .models import MappingProfileRecord, QuarantinedRow, SettlementEntry, SettlementFile

# Row-level report rows kept per file; beyond it only the count grows (a 1M-line garbage
# file must not exhaust memory or the table).
MAX_REPORTED_ROWS = 50_000
PROGRESS_EVERY = 100_000

Progress = Callable[[str], None]


class DuplicateFileError(Exception):
    def __init__(self, existing: SettlementFile) -> None:
        self.existing = existing
        who = existing.uploaded_by.get_username() if existing.uploaded_by else "a job"
        super().__init__(
            f"this file was already imported: {existing.original_name!r} (file #{existing.pk}, sha256 "
            f"{existing.sha256[:12]}…) by {who} at {existing.uploaded_at:%Y-%m-%d %H:%M %Z}"
        )


class RejectedFileError(Exception):
    """An all-or-nothing import met bad rows (or the file is unreadable); nothing was imported."""

    def __init__(self, record: SettlementFile) -> None:
        self.record = record
        super().__init__(record.error)


class _AbortImport(Exception):
    pass


def profile_of(record: MappingProfileRecord) -> MappingProfile:
    return MappingProfile(
        name=record.name, source=record.source, file_format=record.file_format, columns=dict(record.columns),
        delimiter=record.delimiter, encoding=record.encoding, date_formats=tuple(record.date_formats),
        amount_unit=record.amount_unit, fee_includes_gst=record.fee_includes_gst, status_map=dict(record.status_map),
        mt940_reference_field=record.mt940_reference_field,
    )  # fmt: skip


def _seekable(stream: BinaryIO) -> BinaryIO:
    try:
        if stream.seekable():
            return stream
    except (AttributeError, OSError):
        pass
    spool = tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024)
    shutil.copyfileobj(stream, spool)
    return spool


def _hash(stream: BinaryIO) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    stream.seek(0)
    while chunk := stream.read(1024 * 1024):
        digest.update(chunk)
        size += len(chunk)
    stream.seek(0)
    return digest.hexdigest(), size


def _existing(sha256: str) -> SettlementFile | None:
    return (
        SettlementFile.objects.select_related("uploaded_by")
        .filter(sha256=sha256, status__in=[SettlementFile.Status.IMPORTING, SettlementFile.Status.IMPORTED])
        .first()
    )


def settlement_file_import(
    *,
    stream: BinaryIO,
    original_name: str,
    profile: MappingProfileRecord,
    uploaded_by=None,
    bad_rows: str = SettlementFile.BadRows.QUARANTINE,
    progress: Progress | None = None,
) -> SettlementFile:
    """Import one file. Raises DuplicateFileError, RejectedFileError or SettlementFileError."""
    if bad_rows not in SettlementFile.BadRows.values:
        raise ValueError(f"bad_rows must be one of {', '.join(SettlementFile.BadRows.values)}")
    parser_profile = profile_of(profile)  # a broken saved profile fails here, before any write
    stream = _seekable(stream)
    sha256, size = _hash(stream)
    if existing := _existing(sha256):
        raise DuplicateFileError(existing)
    report: list[RowError] = []
    counts = {"read": 0, "imported": 0, "bad": 0, "skipped": 0}
    dates: list = [None, None]
    record = SettlementFile(
        profile=profile, source=profile.source, original_name=original_name[:255], sha256=sha256, size_bytes=size,
        uploaded_by=uploaded_by, bad_rows=bad_rows,
    )  # fmt: skip
    try:
        with transaction.atomic():
            try:
                record.save()
            except IntegrityError:  # a concurrent import of the same bytes won the race
                raise DuplicateFileError(_existing(sha256) or record) from None
            _copy_entries(record, stream, parser_profile, report, counts, dates, progress)
            if counts["bad"] and bad_rows == SettlementFile.BadRows.ALL_OR_NOTHING:
                raise _AbortImport
            record.status = SettlementFile.Status.IMPORTED
            _finish(record, report, counts, dates)
    except _AbortImport:
        record.pk = None
        record.error = (
            f"{counts['bad']} of {counts['read']} rows are bad and the import was all-or-nothing: "
            f"nothing was imported (first: line {report[0].line_no}: {report[0].message})"
        )
        _save_rejected(record, report, counts)
        raise RejectedFileError(record) from None
    except SettlementFileError as exc:
        record.pk = None
        record.error = str(exc)
        report.clear()
        counts.update(imported=0)
        _save_rejected(record, report, counts)
        raise
    if progress:
        progress(f"imported {record.rows_imported:,} rows, quarantined {record.rows_quarantined:,}, "
                 f"skipped {record.rows_skipped:,} (file #{record.pk})")  # fmt: skip
    return record


def _copy_entries(record, stream, parser_profile, report, counts, dates, progress) -> None:
    table = connection.ops.quote_name(SettlementEntry._meta.db_table)
    columns = ", ".join(("file_id", "line_no", *ENTRY_FIELDS))
    file_id = record.pk
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        write = copy.write_row
        date_at = ENTRY_FIELDS.index("txn_date")
        low = high = None
        for item in parse(stream, parser_profile):
            if isinstance(item, ParsedRow):
                write((file_id, item.line_no, *item.values))
                counts["imported"] += 1
                day = item.values[date_at]
                if day is not None:
                    if low is None or day < low:
                        low = day
                    if high is None or day > high:
                        high = day
            elif isinstance(item, RowError):
                counts["bad"] += 1
                if len(report) < MAX_REPORTED_ROWS:
                    report.append(item)
            elif isinstance(item, SkippedRow):
                counts["skipped"] += 1
                continue
            counts["read"] += 1
            if progress and counts["read"] % PROGRESS_EVERY == 0:
                progress(f"read {counts['read']:,} rows ({counts['bad']:,} bad)")
        dates[:] = [low, high]


def _finish(record: SettlementFile, report: list[RowError], counts: dict, dates: list) -> None:
    record.rows_read, record.rows_imported = counts["read"], counts["imported"]
    record.rows_quarantined, record.rows_skipped = counts["bad"], counts["skipped"]
    record.first_date, record.last_date = dates
    record.save()
    if record.rows_imported:
        # Fresh statistics, so the matching joins over these lines get hash plans.
        with connection.cursor() as cursor:
            # Only the columns the joins filter on (ANALYZE of every column sorts the text ones).
            table = connection.ops.quote_name(SettlementEntry._meta.db_table)
            cursor.execute(f"ANALYZE {table} (file_id, {', '.join(REFERENCE_FIELDS)}, status)")
    QuarantinedRow.objects.bulk_create(
        (QuarantinedRow(file=record, line_no=r.line_no, raw=r.raw, errors=r.message) for r in report), batch_size=5000
    )


def _save_rejected(record: SettlementFile, report: list[RowError], counts: dict) -> None:
    with transaction.atomic():
        record.status = SettlementFile.Status.REJECTED
        counts["imported"] = 0
        _finish(record, report, counts, [None, None])
