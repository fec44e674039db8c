"""The bulk path for plain CSV files: the database parses and converts the lines, Python
only sorts them.

Python's per-line work (csv module, then the fast path) costs microseconds per line, which
is most of a million-line import. Here one regular expression per 1 MB block, at C speed,
decides whether every line of the block is *clean*: printable ASCII, the right number of
fields, amounts, date and time in the fast path's plain shapes. Clean blocks go to
PostgreSQL's COPY as they are (but for a backslash, doubled: BulkCsv.copy_options), and the
caller converts them in SQL; the few other lines go
through `CsvRows.item`, the streaming parser's own code, exactly as they would have.

A file takes this path only when that is provably the same as streaming it: a single-byte
or UTF-8 encoding (a newline byte is then always a line break, and a clean line decodes to
itself), no double quote anywhere (no quoted field can span or hide a line break, so line
n of the file is row n for both parsers) and no carriage return except in CR LF. Anything
else raises NotBulkLoadable and the caller streams the file instead; so do files with more
than DIRTY_LIMIT lines needing Python (the bulk path would hold them in memory).

What a clean line may still be refused for is decided in SQL (see enhancements
.reconciliation.importing): no reference, too long a text, no amount, a day or status word
the profile does not know. Those lines come back through `CsvRows.item` too, so the
row-level report is the streaming parser's, line for line.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Callable, Iterator
from typing import BinaryIO

from .csv_format import CsvRows, unreadable_row
from .errors import HeaderError
from .profiles import MONEY_FIELDS, REFERENCE_FIELDS, MappingProfile
from .rows import ParsedRow, RowError, SkippedRow, fast_status

# Encodings in which b"\n" is always a line break and printable ASCII bytes decode to themselves.
BULK_CODECS = frozenset({"utf-8", "ascii", "iso8859-1", "cp1252", "iso8859-15"})
# Delimiters COPY and the expression below treat like the csv module does.
BULK_DELIMITERS = (",", ";", "|", "\t")
DIRTY_LIMIT = 20_000
BLOCK = 1 << 20
# Stands in (first field) for a line Python handled, so COPY keeps counting lines.
PLACEHOLDER_MARK = "\x01"

Item = ParsedRow | RowError | SkippedRow


class NotBulkLoadable(Exception):
    """The file needs the streaming parser (nothing about it is wrong)."""


def _text_field(delimiter: bytes) -> bytes:
    # Printable ASCII except the quote and the delimiter, no longer than the csv module reads
    # (a longer field is its row error). Flat character classes only: nested optional groups
    # make Python's regex engine several times slower per line.
    excluded = b'"' + delimiter
    allowed = bytes(c for c in range(0x20, 0x7F) if bytes([c]) not in excluded)
    return b"[" + re.escape(allowed) + b"]{0,%d}" % csv.field_size_limit()


def _non_space(delimiter: bytes) -> bytes:
    excluded = b'" ' + delimiter
    allowed = bytes(c for c in range(0x20, 0x7F) if bytes([c]) not in excluded)
    return b"[" + re.escape(allowed) + b"]{1,%d}" % csv.field_size_limit()


# The fast path's shapes (rows._PLAIN_RUPEES, _PLAIN_PAISE, _TIME), as top-level alternatives.
_RUPEES = rb"(?:-?[0-9]{1,11}\.[0-9]{1,2}|-?[0-9]{1,11}|)"
_PAISE = rb"(?:-?[0-9]{1,13}|)"
_TIME = rb"(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9]\.[0-9]{1,6}|:[0-5][0-9]|)"


class BulkCsv:
    """One file's plan: its header (as the streaming parser reads it) and its clean-line shape."""

    def __init__(self, profile: MappingProfile, rows: CsvRows, header_end: int, codec: str, newline: bytes = b"\n") -> None:
        self.profile = profile
        self.rows = rows
        self.header_end = header_end
        self.codec = codec
        self.width = rows.width
        self.index = rows.index
        delimiter = profile.delimiter.encode("ascii")
        # The header's line end (CR LF or LF), which COPY then reads throughout: a block of clean
        # lines that all end so is sent as it is. (The shapes admit no CR: a match proves there
        # is none elsewhere.) Normalising CR LF to LF first cost two counts and a copy of every
        # block, a third of the Python time of a 1M-line import.
        self.newline = newline
        line = self._line_shape(delimiter, rows.builder.paise, padded=True)
        self._line = re.compile(line)
        self._block = re.compile(b"(?:" + line + re.escape(newline) + b")*")
        # The same shapes without a space at either end of a text or date cell. Blocks are read
        # with them first (a clean file: about 12% more regex time than with the first shapes
        # alone), until a line needs the first shapes: it has a cell with a space at one end, and
        # the SQL conversion then trims cells (see `padded`). See _clean_block.
        plain = self._line_shape(delimiter, rows.builder.paise, padded=False)
        self._plain_line = re.compile(plain)
        self._plain_block = re.compile(b"(?:" + plain + re.escape(newline) + b")*")
        self.placeholder = (PLACEHOLDER_MARK + profile.delimiter * (self.width - 1)).encode("ascii")
        # Whether some text or date cell COPY gets starts or ends with a space. When none does,
        # the SQL conversion reads cells as they are instead of testing each for spaces and
        # trimming it (1M lines: 1.73 -> 1.49 s).
        self.padded = False
        self.python_items: list[Item] = []  # lines Python handled, in line order
        self.data_rows = 0  # non-blank lines, as the streaming parser counts them
        self.clean_lines = 0  # lines left to SQL
        self.lines = 0

    def _line_shape(self, delimiter: bytes, paise: bool, *, padded: bool) -> bytes:
        text, word = _text_field(delimiter), _non_space(delimiter)
        if not padded:  # a lookahead and a lookbehind: flat, as the engine likes it (see _text_field)
            text = b"(?! )" + text + b"(?<! )"
        money = _PAISE if paise else _RUPEES
        shapes = [text] * self.width
        for field in MONEY_FIELDS:
            if field in self.index:
                shapes[self.index[field]] = money
        if "txn_date" in self.index:
            date = word + b" " + _TIME
            shapes[self.index["txn_date"]] = b" *" + date + b" *" if padded else date
        return re.escape(delimiter).join(shapes)

    # --- reading ------------------------------------------------------------------

    def blocks(self, stream: BinaryIO, progress: Callable[[int, int], None] | None = None) -> Iterator[bytes]:
        """The data lines as COPY input (see copy_options; `newline` line ends), a placeholder
        for each line Python handled (its item is in `python_items`). `progress(rows read, bad
        so far)` after each block."""
        stream.seek(self.header_end)
        line_no = 1  # the header
        carry = b""
        while True:
            data = stream.read(BLOCK)
            if not data:
                break
            data = carry + data
            cut = data.rfind(b"\n") + 1
            if not cut:
                carry = data
                continue
            carry = data[cut:]
            block, line_no = self._clean_block(data[:cut], line_no)
            if progress:
                progress(self.data_rows, sum(isinstance(i, RowError) for i in self.python_items))
            yield _escaped(block)
        if carry:
            block, line_no = self._clean_block(carry + b"\n", line_no, unterminated=True)
            yield _escaped(block)
        self.lines = line_no - 1

    def copy_options(self) -> str:
        """COPY's options for the blocks: PostgreSQL's text format, which it reads faster than
        CSV (1M lines: 0.86 -> 0.75 s), and here the same way. No field is quoted (a quote
        anywhere makes the file NotBulkLoadable); an empty field is NULL (`NULL ''`), as an
        unquoted empty CSV field is; the one character the text format treats specially, the
        backslash, is sent doubled (`_escaped`), which it reads as one."""
        return f"FORMAT text, DELIMITER '{self.profile.delimiter}', NULL ''"  # one of BULK_DELIMITERS

    def _clean_block(self, block: bytes, line_no: int, unterminated: bool = False) -> tuple[bytes, int]:
        """`block`: whole lines, the last ending in b"\\n"."""
        if b'"' in block:
            raise NotBulkLoadable("the file quotes fields")
        count = block.count(b"\n")
        # The block's lines before `start` are clean (COPY takes them as they are).
        if self.padded:
            start = len(block) if self._block.fullmatch(block) else 0
        else:
            # The plain lines at the start of the block, in one pass: all of them, or up to a line
            # that is dirty or has a cell with a space at one end (then the rest, if all clean).
            start = self._plain_block.match(block).end()
            if start < len(block) and self._block.fullmatch(block, start):
                start, self.padded = len(block), True
        head = block.count(b"\n", 0, start) if start < len(block) else count
        self.data_rows += head
        self.clean_lines += head
        if start == len(block):
            return block, line_no + count
        out = []
        for offset, line in enumerate(block[start:-1].split(b"\n"), start=head):  # offset: in the block
            if line.endswith(b"\r"):
                line = line[:-1]  # CR LF, in a file of either kind
            if b"\r" in line:
                raise NotBulkLoadable("the file has carriage returns that are not line ends")
            if not self.padded and self._plain_line.fullmatch(line):
                clean = True
            else:
                clean = self._line.fullmatch(line) is not None
                self.padded = self.padded or clean  # clean, but not in the plain shapes
            if clean:
                self.data_rows += 1
                self.clean_lines += 1
                out.append(line)
                continue
            self._python_line(line_no + 1 + offset, line, unterminated and offset == count - 1)
            out.append(self.placeholder)
        out.append(b"")
        return block[:start] + self.newline.join(out), line_no + count

    def _python_line(self, line_no: int, raw: bytes, unterminated: bool) -> None:
        if len(self.python_items) >= DIRTY_LIMIT:
            raise NotBulkLoadable(f"more than {DIRTY_LIMIT:,} lines need the streaming parser")
        text = raw.decode(self.codec, "surrogateescape") + ("" if unterminated else "\n")
        try:
            row = next(csv.reader([text], delimiter=self.profile.delimiter, strict=False), [])
        except (csv.Error, UnicodeError, ValueError) as exc:
            self.data_rows += 1
            self.python_items.append(unreadable_row(line_no, exc))
            return
        item = self.rows.item(line_no, row)
        if not isinstance(item, SkippedRow):
            self.data_rows += 1
        self.python_items.append(item)

    # --- what SQL asks Python -------------------------------------------------------

    def day(self, day_text: str):
        """The date of a clean line's day part (None: not one of the profile's formats)."""
        return self.rows.builder._day_of(day_text)

    def status(self, raw: str) -> str | None:
        """A clean line's status cell, as the fast path reads it (None: let Python decide)."""
        return fast_status(self.profile, raw)

    def refused(self, line_no: int, fields: list[str | None]) -> Item:
        """A clean line SQL did not accept, through the streaming parser's code."""
        return self.rows.item(line_no, [f or "" for f in fields])


def _escaped(block: bytes) -> bytes:
    """`block` for COPY's text format: a backslash (its escape character) doubled."""
    return block.replace(b"\\", b"\\\\") if b"\\" in block else block


def bulk_csv(stream: BinaryIO, profile: MappingProfile) -> BulkCsv | None:
    """The bulk plan for this file, or None when it must be streamed. Header problems raise
    the streaming parser's errors."""
    if profile.file_format != "csv" or profile.delimiter not in BULK_DELIMITERS:
        return None
    codec = codecs.lookup(profile.encoding).name
    if codec not in BULK_CODECS:
        return None
    stream.seek(0)
    first = stream.readline()
    if not first.strip() or b'"' in first or b"\r" in first.rstrip(b"\r\n") or not first.endswith(b"\n"):
        return None  # let the streaming parser read (or refuse) such a header
    try:
        header = next(csv.reader([first.decode(codec, "surrogateescape")], delimiter=profile.delimiter, strict=False))
    except (csv.Error, UnicodeError, ValueError) as exc:
        raise HeaderError(f"the header row cannot be read: {exc}") from None
    rows = CsvRows(header, profile)
    if rows.width < 2 or not any(f in rows.index for f in REFERENCE_FIELDS):
        return None
    if "txn_date" in rows.index and not rows.builder._day_formats:
        return None  # the fast path never accepts such dates
    return BulkCsv(profile, rows, len(first), codec, b"\r\n" if first.endswith(b"\r\n") else b"\n")

