"""Errors the settlement-file parsers raise. Nothing else escapes them, whatever the bytes.

A SettlementFileError rejects the whole file (it cannot be read at all: wrong format,
missing header columns, no rows). A single bad line is not an exception: the parsers
yield a RowError for it and go on, so the importer can quarantine it or refuse the file.
"""

from __future__ import annotations


class SettlementFileError(Exception):
    """The file as a whole cannot be read with this profile."""


class FileFormatError(SettlementFileError):
    """Not a file of the profile's format (e.g. not an XLSX workbook, not an MT940 statement)."""


class HeaderError(SettlementFileError):
    """The header row lacks columns the profile maps, or there is no header at all."""


class EmptyFileError(SettlementFileError):
    """The file holds no data rows."""


class ProfileError(SettlementFileError):
    """The column-mapping profile itself is unusable (unknown field, no reference column...)."""
