"""XLSX settlement files (openpyxl, read-only streaming mode: rows are not all loaded)."""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterator
from typing import BinaryIO

from .csv_format import printable
from .errors import EmptyFileError, FileFormatError, HeaderError
from .profiles import MappingProfile
from .rows import ParsedRow, RowBuilder, RowError, SkippedRow


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return str(value)


def parse_xlsx(stream: BinaryIO, profile: MappingProfile) -> Iterator[ParsedRow | RowError | SkippedRow]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(stream, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError, IndexError, AttributeError) as exc:
        raise FileFormatError(f"not an XLSX workbook: {type(exc).__name__}: {str(exc)[:200]}") from None
    except Exception as exc:  # openpyxl raises many undocumented types on corrupt archives
        raise FileFormatError(f"not a readable XLSX workbook: {type(exc).__name__}: {str(exc)[:200]}") from None
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            raise EmptyFileError("the workbook has no worksheet")
        try:
            rows = sheet.iter_rows(values_only=True)
            header = next(rows, None)
        except Exception as exc:
            raise FileFormatError(f"the first worksheet cannot be read: {type(exc).__name__}") from None
        if header is None:
            raise EmptyFileError("the first worksheet is empty: no header row")
        positions = {_cell_text(h).strip().lower(): i for i, h in enumerate(header) if h is not None}
        missing = [h for h in profile.columns.values() if h.strip().lower() not in positions]
        if missing:
            raise HeaderError(
                f"the first worksheet's header lacks column(s) {', '.join(repr(m) for m in missing)} "
                f"that profile {profile.name!r} maps"
            )
        index = {field: positions[h.strip().lower()] for field, h in profile.columns.items()}
        builder = RowBuilder(profile)
        data_rows = 0
        line_no = 1
        while True:
            try:
                row = next(rows)
            except StopIteration:
                break
            except Exception as exc:
                raise FileFormatError(f"row {line_no + 1} cannot be read: {type(exc).__name__}") from None
            line_no += 1
            if not row or all(v is None or (isinstance(v, str) and not v.strip()) for v in row):
                yield SkippedRow(line_no, "blank row")
                continue
            data_rows += 1
            raw_line = printable(",".join(_cell_text(v) for v in row))
            values = {field: (row[i] if i < len(row) else None) for field, i in index.items()}
            yield builder.build(line_no, values, raw_line)
        if data_rows == 0:
            raise EmptyFileError("the first worksheet has a header but no data rows")
    finally:
        book.close()
