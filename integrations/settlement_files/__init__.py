"""Settlement and bank file parsers: CSV, XLSX and MT940 onto one canonical entry shape.

    for item in parse(stream, profile):   # ParsedRow | RowError | SkippedRow
        ...

On any bytes the parsers either yield items or raise a SettlementFileError subclass.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from .csv_format import parse_csv
from .errors import EmptyFileError, FileFormatError, HeaderError, ProfileError, SettlementFileError
from .mt940_format import parse_mt940
from .profiles import BUILTIN_PROFILES, ENTRY_FIELDS, REFERENCE_FIELDS, MappingProfile
from .rows import ParsedRow, RowError, SkippedRow
from .xlsx_format import parse_xlsx

__all__ = [
    "BUILTIN_PROFILES", "ENTRY_FIELDS", "REFERENCE_FIELDS", "EmptyFileError", "FileFormatError", "HeaderError",
    "MappingProfile", "ParsedRow", "ProfileError", "RowError", "SettlementFileError", "SkippedRow", "parse",
]  # fmt: skip

_PARSERS = {"csv": parse_csv, "xlsx": parse_xlsx, "mt940": parse_mt940}


def parse(stream: BinaryIO, profile: MappingProfile) -> Iterator[ParsedRow | RowError | SkippedRow]:
    return _PARSERS[profile.file_format](stream, profile)
