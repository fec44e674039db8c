"""Errors every entry point (admin, API, batch, consumer) turns into a clear message."""

from __future__ import annotations


class RefundError(Exception):
    """Base: the request was refused and nothing was changed."""


class RefundRefused(RefundError):
    """A validation rule against the core failed. `rule` names it (stable, machine-readable)."""

    def __init__(self, rule: str, message: str):
        super().__init__(f"{rule}: {message}")
        self.rule = rule
        self.message = message


class IllegalTransition(RefundError):
    """The action is not allowed from the current state."""


class ApprovalNotAllowed(RefundError):
    """Maker-checker or permission: this person may not take this action."""


class BatchFileError(RefundError):
    """The uploaded file as a whole cannot be read (no header, wrong columns, not CSV/XLSX)."""
