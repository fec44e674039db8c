"""Import a settlement file: hash it, refuse a second copy, and load its good lines into
the staging table (reconciliation_entries: the file's own partition, storage.py).

Plain CSV files take the bulk path (integrations.settlement_files.csv_bulk + _bulk_entries:
the raw lines COPied into an unlogged table of the import's own and converted in SQL, the few
other lines read by the streaming parser's code); every other file, and any CSV the bulk path
cannot prove equal to streaming, is parsed in one streaming pass and its good lines COPied.

Bad lines are reported row by row (QuarantinedRow). With BadRows.QUARANTINE the good
lines are imported; with ALL_OR_NOTHING nothing is, and the file is recorded as
rejected with its report (so the operator sees why).
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import tempfile
from collections.abc import Callable
from typing import BinaryIO

from django.db import IntegrityError, connection, transaction

from core_legacy.sql_translation import unpadded as cell_unpadded
from enhancements.platform.sql_session import bulk_write_workers, local_setting, prefer_parallel

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
from integrations.settlement_files.csv_bulk import DIRTY_LIMIT, PLACEHOLDER_MARK, BulkCsv, NotBulkLoadable, bulk_csv
from integrations.settlement_files.csv_format import no_data_rows
from integrations.settlement_files.profiles import MONEY_FIELDS
from integrations.settlement_files.rows import ABSENT_WORDS, MAX_TEXT

from . import storage
from .models import MappingProfileRecord, QuarantinedRow, SettlementFile

# _write_items reads a row's reference fields by position.
assert ENTRY_FIELDS[: len(REFERENCE_FIELDS)] == REFERENCE_FIELDS

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
    carried: set[str] = set()  # SettlementFile.carried_references
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
            _copy_entries(record, stream, parser_profile, report, counts, dates, carried, progress)
            if counts["bad"] and bad_rows == SettlementFile.BadRows.ALL_OR_NOTHING:
                raise _AbortImport
            with connection.cursor() as cursor:
                storage.attach_entries(cursor, record.pk)
            record.status = SettlementFile.Status.IMPORTED
            record.carried_references = sorted(carried)
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


def _copy_entries(record, stream, parser_profile, report, counts, dates, carried, progress) -> None:
    plan = bulk_csv(stream, parser_profile)
    if plan is not None:
        try:
            with transaction.atomic():
                _bulk_entries(record, stream, plan, report, counts, dates, carried, progress)
            return
        except NotBulkLoadable as exc:
            report.clear()
            counts.update(read=0, imported=0, bad=0, skipped=0)
            dates[:] = [None, None]
            carried.clear()
            if progress:
                progress(f"streaming the file instead: {exc}")
    stream.seek(0)
    _stream_entries(record, stream, parser_profile, report, counts, dates, carried, progress)


def _stream_entries(record, stream, parser_profile, report, counts, dates, carried, progress) -> None:
    """Every line through the Python parser, COPYing the good ones (any format)."""
    with connection.cursor() as cursor:
        storage.empty_entries_table(cursor, record.pk)
    with _entries_copy(record.pk) as copy:
        items = parse(stream, parser_profile)
        low, high = _write_items(copy, record.pk, items, report, counts, carried, progress)
        dates[:] = [low, high]


@contextlib.contextmanager
def _entries_copy(file_id: int):
    """COPY into the file's lines table (before it is attached as the file's partition)."""
    columns = ", ".join(("id", "file_id", "line_no", *ENTRY_FIELDS))
    table = storage.entries_partition(file_id)
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        yield copy


def _write_items(copy, file_id, items, report, counts, carried, progress, low=None, high=None):
    """COPY the parsed rows; count, report and date the items; add the reference fields a row
    carries to `carried` (REFERENCE_FIELDS lead ENTRY_FIELDS)."""
    write = copy.write_row
    date_at = ENTRY_FIELDS.index("txn_date")
    unseen = [(i, field) for i, field in enumerate(REFERENCE_FIELDS) if field not in carried]
    for item in items:
        if isinstance(item, ParsedRow):
            write((storage.entry_id(file_id, item.line_no), file_id, item.line_no, *item.values))
            counts["imported"] += 1
            if unseen and any(item.values[i] is not None for i, _ in unseen):
                carried.update(field for i, field in unseen if item.values[i] is not None)
                unseen = [(i, field) for i, field in unseen if field not in carried]
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
    return low, high


def _bulk_entries(record, stream, plan: BulkCsv, report, counts, dates, carried, progress) -> None:
    """CSV through csv_bulk: the raw lines are COPied into a scratch table as text and
    converted to entries by one CREATE TABLE ... AS (casts only: csv_bulk's expression already
    proved the shapes); lines Python handled or SQL refused go through the streaming parser's
    code. Same entries, report, counts and dates as streaming the file.

    The scratch tables are UNLOGGED tables created in the import's transaction, not temporary
    ones: PostgreSQL's parallel workers cannot read a temporary table, and the conversion is
    CPU work they share out (1M lines: 3.5-4.5 s instead of 5.6-5.9 s, and the day / status
    pass 0.4 s instead of 1.1 s, alternating on the benchmark machine). Created inside the
    transaction, they vanish with it if the import fails, and are dropped at its end."""
    names = _RawNames(record.pk)
    columns = ", ".join(f"c{i}" for i in range(plan.width))
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")  # one pass over the rows: compiling costs more than it saves
        prefer_parallel(cursor)  # the day / status grouping over the raw lines (unlogged)
        # The raw table has no statistics (ANALYZE would cost a scan): without this the planner
        # takes it for a few rows and loops over it once per distinct day.
        cursor.execute("SET LOCAL enable_nestloop = off")
        # Line numbers in COPY order; the header is line 1 (csv_bulk admits no multi-line field).
        cursor.execute(f"CREATE UNLOGGED SEQUENCE {names.line} START 2 CACHE 10000")
        cursor.execute(
            f"""CREATE UNLOGGED TABLE {names.raw} (line_no int NOT NULL DEFAULT nextval('{names.line}'),
            {', '.join(f'c{i} text' for i in range(plan.width))})"""
        )
        reported = 0

        def report_progress(rows: int, bad: int) -> None:
            # The streaming parser's messages, at each PROGRESS_EVERY rows a block passed.
            nonlocal reported
            while progress and rows >= reported + PROGRESS_EVERY:
                reported += PROGRESS_EVERY
                progress(f"read {reported:,} rows ({bad:,} bad)")

        with cursor.cursor.copy(
            f"COPY {names.raw} ({columns}) FROM STDIN ({plan.copy_options()})"
        ) as copy:
            for block in plan.blocks(stream, report_progress):
                copy.write(block)
        sql = _BulkSql(plan, names)  # after the blocks: it depends on plan.padded
        if plan.data_rows == 0:  # only blank lines: counted as the streaming parser counts them
            counts["skipped"] = len(plan.python_items)
            raise no_data_rows()
        carried.update(sql.load_maps(cursor))
        with bulk_write_workers(cursor):  # the leader writes a million lines (see there)
            accepted = storage.entries_table_from_select(cursor, record.pk, sql.select,
                                                         {"file": record.pk, "mark": PLACEHOLDER_MARK},
                                                         known_max=sql.known_max)  # fmt: skip
        low, high = sql.date_range(cursor, file_id=record.pk, every_clean_line=accepted == plan.clean_lines)
        refused = []
        if accepted < plan.clean_lines:  # else every clean line went in: nothing to look for
            cursor.execute(sql.refused, {"mark": PLACEHOLDER_MARK, "limit": DIRTY_LIMIT + 1})
            refused = cursor.fetchall()
        if len(refused) + len(plan.python_items) > DIRTY_LIMIT:
            raise NotBulkLoadable(f"more than {DIRTY_LIMIT:,} lines need the streaming parser")
        cursor.execute(f"DROP TABLE {names.raw}, {names.days}, {names.status}")
        cursor.execute(f"DROP SEQUENCE {names.line}")
    counts["imported"] = counts["read"] = accepted
    items = sorted(
        [*plan.python_items, *(plan.refused(line_no, list(fields)) for line_no, *fields in refused)],
        key=lambda item: item.line_no,
    )
    with _entries_copy(record.pk) as copy:
        dates[:] = _write_items(copy, record.pk, items, report, counts, carried, None, low, high)


class _RawNames:
    """The bulk import's scratch tables, named after the file (imports may run side by side)."""

    def __init__(self, file_id: int) -> None:
        self.raw = f"recon_raw_f{int(file_id)}"
        self.days = f"{self.raw}_days"
        self.status = f"{self.raw}_status"
        self.line = f"{self.raw}_line"


_ABSENT_SQL = "(" + ", ".join(f"'{word}'" for word in sorted(ABSENT_WORDS)) + ")"


class _BulkSql:
    """The conversion of csv_bulk's clean lines, as rows.fast_csv_builder reads them.

    The 'absent' test lowers a cell only when it is short enough to be one of the absent words.
    No `OFFSET 0` fences to compute a trimmed cell or a converted value once: a subquery with
    OFFSET cannot run in parallel workers, and sharing the work out gains more than the repeats
    cost."""

    def __init__(self, plan: BulkCsv, names: _RawNames) -> None:
        index, profile = plan.index, plan.profile
        self.plan = plan
        self.names = names
        col = {field: f"b.c{i}" for field, i in index.items()}
        refs = [f for f in REFERENCE_FIELDS if f in col]
        texts = [*refs, *(["payment_mode"] if "payment_mode" in col else [])]
        # Cells are trimmed only when some text or date cell of the file starts or ends with a
        # space (csv_bulk's plan.padded); otherwise each is its own trimmed value, and the tests
        # for spaces and the trimmed copies are left out (1M lines: conversion 1.73 -> 1.49 s).
        padded = plan.padded
        trimmed = {f: f"b.{f}_t" if padded else col[f] for f in texts}
        absent_len = max(len(word) for word in ABSENT_WORDS)

        def unpadded(cell: str) -> str:
            return cell_unpadded(cell) if padded else "true"

        # Clean lines are printable ASCII (csv_bulk's shapes): a cell's octet length is its
        # length (length() would count UTF-8 characters byte by byte), and lower() under the "C"
        # collation gives the same, without the locale's wide-character conversion (1M lines:
        # the conversion 1.8 -> 1.67 s).
        def lower(t: str) -> str:
            return f'lower({t} COLLATE "C")'

        # A cell with no space at either end is its own trimmed value, and one longer than any
        # absent word is no absent word: most cells, read without trimming (a copy per test).
        def plain_word(cell: str) -> str:
            return f"(octet_length({cell}) > {absent_len} AND {unpadded(cell)})"

        def text(field: str) -> str:
            if field not in trimmed:
                return "NULL"
            t, cell = trimmed[field], col[field]
            return (f"CASE WHEN {plain_word(cell)} THEN {cell} "
                    f"WHEN octet_length({t}) <= {absent_len} AND {lower(t)} IN {_ABSENT_SQL} THEN NULL ELSE {t} END")

        def present(field: str) -> str:
            t, cell = trimmed[field], col[field]
            return (f"coalesce({plain_word(cell)} OR octet_length({t}) > {absent_len} "
                    f"OR {lower(t)} NOT IN {_ABSENT_SQL}, false)")

        def within_max(field: str) -> str:
            t, cell = trimmed[field], col[field]
            return f"coalesce(CASE WHEN {unpadded(cell)} THEN octet_length({cell}) ELSE octet_length({t}) END <= {MAX_TEXT}, true)"

        # csv_bulk's clean shapes hold at most 11 integer digits and 2 decimals (13 digits in
        # paise): numeric(14, 2), the entries' type, holds them exactly. Read straight into it,
        # the later casts to it are no-ops the planner drops (one conversion per cell, not two).
        def money(field: str) -> str:
            if field not in col:
                return "NULL::numeric(14, 2)"
            if plan.rows.builder.paise:
                return f"({col[field]}::bigint * 0.01)::numeric(14, 2)"
            return f"{col[field]}::numeric(14, 2)"

        # Every text column is NULL or accepted only within MAX_TEXT characters (`ok` below).
        self.known_max = {f: MAX_TEXT for f in (*REFERENCE_FIELDS, "payment_mode")}
        amounts = [col[f] for f in ("amount", "net") if f in col]
        ok = [
            "(" + " OR ".join(present(f) for f in refs) + ")",
            *(within_max(f) for f in texts),
            "(" + (" OR ".join(f"{c} IS NOT NULL" for c in amounts) or "false") + ")",
        ]
        joins = []
        if "txn_date" in col:
            joins.append(f"LEFT JOIN {names.days} dm ON dm.txt = {_day_part(col['txn_date'], padded)}")
            ok.append("dm.day IS NOT NULL")
        if "status" in col:
            joins.append(f"LEFT JOIN {names.status} sm ON sm.raw = {col['status']}")
            ok.append("sm.status IS NOT NULL")
        trims = "".join(f", btrim(r.c{index[f]}, ' ') AS {f}_t" for f in texts) if padded else ""
        inner = f"(SELECT r.*{trims} FROM {names.raw} r WHERE r.c0 IS DISTINCT FROM %(mark)s) AS b"
        source = f"FROM {inner} {' '.join(joins)}"
        accept = " AND ".join(ok)
        deducted = "coalesce(fee, 0)" + ("" if profile.fee_includes_gst else " + coalesce(tax, 0)")
        has_fee_info = "true" if {"fee", "net"} & plan.rows.builder.mapped else "false"
        # The count is the row count; the date range comes from the day map (see `date_range`).
        self.select = f"""
            SELECT {storage.entry_id_sql('%(file)s', 'line_no')}, %(file)s, line_no, {', '.join(REFERENCE_FIELDS)},
                   coalesce(amount, net), fee, tax,
                   CASE WHEN no_net THEN (amount - ({deducted}))::numeric(14, 2) ELSE net END, {has_fee_info}, txn_date,
                   status, payment_mode
            FROM (SELECT b.line_no, {', '.join(f'{text(f)} AS {f}' for f in REFERENCE_FIELDS)},
                         {', '.join(f'{money(f)} AS {f}' for f in MONEY_FIELDS)},
                         {f"{col['net']} IS NULL" if 'net' in col else 'true'} AS no_net,
                         {'dm.day' if 'txn_date' in col else 'NULL::date'} AS txn_date,
                         {'sm.status' if 'status' in col else 'NULL::text'} AS status,
                         {text('payment_mode')} AS payment_mode
                  {source} WHERE {accept}) AS v"""
        self.refused = f"""SELECT b.line_no, {', '.join(f'b.c{i}' for i in range(plan.width))}
            {source} WHERE NOT ({accept}) ORDER BY b.line_no LIMIT %(limit)s"""
        self._day_column = f"r.c{index['txn_date']}" if "txn_date" in index else None
        self._status_column = f"r.c{index['status']}" if "status" in index else None

    def date_range(self, cursor, *, file_id: int, every_clean_line: bool) -> tuple:
        """First and last date of the lines SQL accepted. When it accepted every clean line,
        every day in the map is some accepted line's (the map holds only the clean lines' days
        that parse); otherwise read the entries (a rare case: lines the fast path refuses)."""
        if not self._day_column:
            return None, None
        if every_clean_line:
            cursor.execute(f"SELECT min(day), max(day) FROM {self.names.days}")
        else:
            cursor.execute(f"SELECT min(txn_date), max(txn_date) FROM {storage.entries_partition(file_id)}")
        return cursor.fetchone()

    def load_maps(self, cursor) -> set[str]:
        """The day parts and status cells of the clean lines are few: Python reads each
        distinct one once, with the fast path's own functions. Returns the reference fields
        some clean line has a cell for, found in the same pass: a superset of those their entries
        carry (the cell may be an absent word, or its line refused), as SettlementFile
        .carried_references may be."""
        names = self.names
        cursor.execute(f"CREATE UNLOGGED TABLE {names.days} (txt text PRIMARY KEY, day date)")
        cursor.execute(f"CREATE UNLOGGED TABLE {names.status} (raw text PRIMARY KEY, status text)")
        day_sql = _day_part(self._day_column, self.plan.padded) if self._day_column else "NULL::text"
        status_sql = self._status_column or "NULL::text"
        refs = [field for field in REFERENCE_FIELDS if field in self.plan.index]
        cells = "".join(f", bool_or(r.c{self.plan.index[field]} IS NOT NULL)" for field in refs)
        # The (day, status) pairs rather than GROUPING SETS ((d), (s)): a plain grouping runs in
        # parallel workers (each hashing its share into a few groups), the grouping sets do not
        # (1M lines: 0.2 s instead of 0.42 s). Days times statuses stay few, which the planner
        # cannot know (the raw table has no statistics): with the aggregates of the references
        # it would sort the lines, to disk, rather than hash them (1M lines: 0.37 s, not 0.18 s).
        with local_setting(cursor, "enable_sort", "off"):
            cursor.execute(
                f"""SELECT {day_sql}, {status_sql}{cells} FROM {names.raw} r
                WHERE r.c0 IS DISTINCT FROM %s GROUP BY 1, 2""",
                [PLACEHOLDER_MARK],
            )
            groups = cursor.fetchall()
        days, statuses, carried = {}, {}, set()
        for day_text, status_raw, *has_cell in groups:
            carried.update(field for field, there in zip(refs, has_cell, strict=True) if there)
            if day_text is not None and day_text not in days:
                days[day_text] = self.plan.day(day_text)
            if status_raw is not None and status_raw not in statuses:
                statuses[status_raw] = self.plan.status(status_raw)
        days = {k: v for k, v in days.items() if v is not None}
        statuses = {k: v for k, v in statuses.items() if v is not None}
        cursor.execute(f"INSERT INTO {names.days} SELECT * FROM unnest(%s::text[], %s::date[])",
                       [list(days), list(days.values())])  # fmt: skip
        cursor.execute(f"INSERT INTO {names.status} SELECT * FROM unnest(%s::text[], %s::text[])",
                       [list(statuses), list(statuses.values())])  # fmt: skip
        cursor.execute(f"ANALYZE {names.days}")
        cursor.execute(f"ANALYZE {names.status}")
        return carried


def _day_part(cell: str, padded: bool) -> str:
    """The date part of a date-and-time cell (the day map's key); trimmed first when cells may
    be padded (plan.padded)."""
    if padded:
        cell = f"btrim({cell}, ' ')"
    return f"split_part({cell}, ' ', 1)"


def _finish(record: SettlementFile, report: list[RowError], counts: dict, dates: list) -> None:
    record.rows_read, record.rows_imported = counts["read"], counts["imported"]
    record.rows_quarantined, record.rows_skipped = counts["bad"], counts["skipped"]
    record.first_date, record.last_date = dates
    record.save()
    QuarantinedRow.objects.bulk_create(
        (QuarantinedRow(file=record, line_no=r.line_no, raw=r.raw, errors=r.message) for r in report), batch_size=5000
    )


def _save_rejected(record: SettlementFile, report: list[RowError], counts: dict) -> None:
    with transaction.atomic():
        record.status = SettlementFile.Status.REJECTED
        counts["imported"] = 0
        _finish(record, report, counts, [None, None])
