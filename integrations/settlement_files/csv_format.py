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
    positions = {_normalise_header(name): i for i, name in enumerate(header)}
    missing = [h for h in profile.columns.values() if _normalise_header(h) not in positions]
    if missing:
        raise HeaderError(
            f"the header lacks column(s) {', '.join(repr(m) for m in missing)} that profile "
            f"{profile.name!r} maps (found: {', '.join(repr(h) for h in header[:30]) or 'nothing'})"
        )
    index = {field: positions[_normalise_header(h)] for field, h in profile.columns.items()}
    width = len(header)
    builder = RowBuilder(profile)
    fast = fast_csv_builder(builder, index)
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
            yield RowError(reader.line_num, "", (f"not readable as CSV: {exc}",))
            continue
        last_line = reader.line_num
        line_no = reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            yield SkippedRow(line_no, "blank line")
            continue
        data_rows += 1
        if len(row) == width:
            values = fast(row)
            if values is not None:
                yield ParsedRow(line_no, values)
                continue
        raw_line = printable(profile.delimiter.join(row))
        if len(row) != width:
            yield RowError(line_no, raw_line[:1000], (f"wrong column count: {len(row)} instead of {width}",))
            continue
        yield builder.build(line_no, {field: row[i] for field, i in index.items()}, raw_line)
    if data_rows == 0:
        raise EmptyFileError("the file has a header but no data rows")
