"""CSV settlement files, streamed: one line in memory at a time."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from typing import BinaryIO

from .errors import EmptyFileError, FileFormatError, HeaderError
from .profiles import MappingProfile
from .rows import ParsedRow, RowBuilder, RowError, SkippedRow, fast_csv_builder


def printable(text: str) -> str:
    """Raw text safe to store (undecodable bytes and NULs shown as escapes)."""
    try:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text.replace("\x00", "\\x00")


def _normalise_header(name: str) -> str:
    return name.replace("\ufeff", "").strip().lower()


class CsvRows:
    """The header of a CSV file, and what one of its rows becomes. Both the streaming parser
    and the bulk path (csv_bulk) turn rows into items here, so they cannot disagree."""

    def __init__(self, header: list[str], profile: MappingProfile) -> None:
        positions = {_normalise_header(name): i for i, name in enumerate(header)}
        missing = [h for h in profile.columns.values() if _normalise_header(h) not in positions]
        if missing:
            raise HeaderError(
                f"the header lacks column(s) {', '.join(repr(m) for m in missing)} that profile "
                f"{profile.name!r} maps (found: {', '.join(repr(h) for h in header[:30]) or 'nothing'})"
            )
        self.profile = profile
        self.index = {field: positions[_normalise_header(h)] for field, h in profile.columns.items()}
        self.width = len(header)
        self.builder = RowBuilder(profile)
        self.fast = fast_csv_builder(self.builder, self.index)

    def item(self, line_no: int, row: list[str]) -> ParsedRow | RowError | SkippedRow:
        if not row or (len(row) == 1 and not row[0].strip()):
            return SkippedRow(line_no, "blank line")
        if len(row) == self.width:
            values = self.fast(row)
            if values is not None:
                return ParsedRow(line_no, values)
        raw_line = printable(self.profile.delimiter.join(row))
        if len(row) != self.width:
            return RowError(line_no, raw_line[:1000], (f"wrong column count: {len(row)} instead of {self.width}",))
        return self.builder.build(line_no, {field: row[i] for field, i in self.index.items()}, raw_line)


def unreadable_row(line_no: int, exc: Exception) -> RowError:
    return RowError(line_no, "", (f"not readable as CSV: {exc}",))


def parse_csv(stream: BinaryIO, profile: MappingProfile) -> Iterator[ParsedRow | RowError | SkippedRow]:
    # Undecodable bytes become lone surrogates, so one bad line is reported as a row error
    # instead of failing the whole file.
    codec = codecs.lookup(profile.encoding).name
    text = io.TextIOWrapper(stream, encoding=codec, errors="surrogateescape", newline="")
    reader = csv.reader(text, delimiter=profile.delimiter, strict=False)
    try:
        header = next(reader)
    except StopIteration:
        raise EmptyFileError("the file is empty: no header row") from None
    except (csv.Error, UnicodeError, ValueError) as exc:
        raise HeaderError(f"the header row cannot be read: {exc}") from None
    rows = CsvRows(header, profile)
    data_rows = 0
    last_line = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except (csv.Error, UnicodeError, ValueError) as exc:
            if reader.line_num == last_line:
                raise FileFormatError(f"line {last_line + 1}: cannot be read as CSV ({exc})") from None
            last_line = reader.line_num
            data_rows += 1
            yield unreadable_row(reader.line_num, exc)
            continue
        last_line = reader.line_num
        item = rows.item(reader.line_num, row)
        if not isinstance(item, SkippedRow):
            data_rows += 1
        yield item
    if data_rows == 0:
        raise no_data_rows()


def no_data_rows() -> EmptyFileError:
    return EmptyFileError("the file has a header but no data rows")
