"""Named errors of the read-only boundary."""

from __future__ import annotations


class CoreWriteForbidden(RuntimeError):
    """Application code tried to write to the payment core.

    The core is read-only to this service; changes go through the core gateway API
    (integrations/core_gateway).
    """


class LegacyValueError(ValueError):
    """A legacy value that cannot be translated; names where it came from."""

    def __init__(self, *, table: str, key: object, column: str, value: object, reason: str) -> None:
        self.table = table
        self.key = key
        self.column = column
        self.value = value
        self.reason = reason
        super().__init__(f"{table}[{key}].{column} = {value!r}: {reason}")
