"""Write report rows to CSV, JSON or XML as they arrive (memory stays flat) and checksum the bytes.

    spec = FileSpec(root="CTR", record="Transaction", fields=[Field("txn_id", "TxnId"), ...], meta={...})
    written = write_report(path, "xml", spec, rows)      # rows: any iterable of tuples
    written.row_count, written.sha256

Values: Decimal -> plain string ("1000000.50"), datetime/date -> ISO 8601, None -> empty
(CSV/XML) or null (JSON), bool -> true/false. The field mapping (column header, JSON key,
XML element) is the FileSpec; each report documents its own in docs/compliance.md.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import XMLGenerator
from xml.sax.saxutils import escape as xml_escape

FORMATS = ("csv", "json", "xml")


@dataclasses.dataclass(frozen=True)
class Field:
    name: str  # CSV header and JSON key
    xml: str  # XML element name


@dataclasses.dataclass(frozen=True)
class FileSpec:
    root: str  # XML root element / JSON "report" name
    record: str  # XML element per row
    fields: Sequence[Field]
    meta: dict  # report-level values: JSON "meta" object, XML <Header>, not repeated per CSV row


@dataclasses.dataclass(frozen=True)
class Written:
    path: Path
    row_count: int
    sha256: str
    size: int


class _HashingFile(io.RawIOBase):
    """A binary sink that hashes and counts everything written through it."""

    def __init__(self, raw) -> None:
        self.raw, self.digest, self.size = raw, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        data = bytes(data)
        self.digest.update(data)
        self.size += len(data)
        self.raw.write(data)
        return len(data)


def text_value(value) -> str:
    cls = value.__class__
    if cls is str:  # most values of a big report: sources hand money over as text already
        return value
    if cls is int:  # not bool (a subclass, written true/false below)
        return str(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return str(value)


def _json_value(value):
    if value is None or isinstance(value, (bool, int)):
        return value
    return text_value(value)


def _write_csv(out: io.TextIOBase, spec: FileSpec, rows: Iterable[Sequence]) -> int:
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180
    writer.writerow([f.name for f in spec.fields])
    count = 0
    for row in rows:
        writer.writerow([v if v.__class__ is str else text_value(v) for v in row])
        count += 1
    return count


def _write_json(out: io.TextIOBase, spec: FileSpec, rows: Iterable[Sequence]) -> int:
    names = [f.name for f in spec.fields]
    out.write('{"report":' + json.dumps(spec.root) + ',"meta":' + json.dumps({k: _json_value(v) for k, v in spec.meta.items()}))
    out.write(',"fields":' + json.dumps(names) + ',"records":[')
    count = 0
    for row in rows:
        out.write(("," if count else "") + "\n" + json.dumps(dict(zip(names, map(_json_value, row))), ensure_ascii=False))
        count += 1
    out.write('\n],"record_count":' + str(count) + "}\n")
    return count


def _write_xml(out: io.TextIOBase, spec: FileSpec, rows: Iterable[Sequence]) -> int:
    gen = XMLGenerator(out, encoding="utf-8", short_empty_elements=True)
    gen.startDocument()
    gen.startElement(spec.root, {})
    gen.startElement("Header", {})
    for key, value in spec.meta.items():
        gen.startElement(key, {})
        gen.characters(text_value(value))
        gen.endElement(key)
    gen.endElement("Header")
    # Records are written as text straight to `out` (XMLGenerator writes there too, unbuffered):
    # the same bytes it writes (escaped characters, `<X/>` for an empty element, as under
    # short_empty_elements) without its six method calls per field, most of a big report's time.
    opens = [f"<{f.xml}>" for f in spec.fields]
    closes = [f"</{f.xml}>" for f in spec.fields]
    empties = [f"<{f.xml}/>" for f in spec.fields]
    record_open, record_close = f"<{spec.record}>", f"</{spec.record}>"
    write = out.write
    count = 0
    for row in rows:
        parts = ["<Records>", record_open] if not count else [record_open]
        for opened, closed, empty, value in zip(opens, closes, empties, row):
            text = value if value.__class__ is str else text_value(value)
            parts.append(opened + xml_escape(text) + closed if text else empty)
        parts.append(record_close)
        write("".join(parts))
        count += 1
    write("</Records>" if count else "<Records/>")
    gen.startElement("RecordCount", {})
    gen.characters(str(count))
    gen.endElement("RecordCount")
    gen.endElement(spec.root)
    gen.endDocument()
    return count


_WRITERS = {"csv": _write_csv, "json": _write_json, "xml": _write_xml}


def write_report(path: Path, file_format: str, spec: FileSpec, rows: Iterable[Sequence]) -> Written:
    """Write atomically: into path + '.part', renamed on success (no half file left under the final name)."""
    if file_format not in _WRITERS:
        raise ValueError(f"unknown report format {file_format!r}; use one of {', '.join(FORMATS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    try:
        with open(partial, "wb") as raw:
            sink = _HashingFile(raw)
            buffered = io.BufferedWriter(sink, buffer_size=1 << 16)
            text = io.TextIOWrapper(buffered, encoding="utf-8", newline="")
            count = _WRITERS[file_format](text, spec, rows)
            text.flush()
            buffered.flush()
            text.detach()
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return Written(path, count, sink.digest.hexdigest(), sink.size)
