"""Compliance admin: rules, alerts (cases with their workflow), KYC records, report log, holidays."""

from . import cases, config  # noqa: F401  (registration)
