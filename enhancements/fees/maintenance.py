"""Calculation-log partitions: created ahead of time, dropped past retention (beat job)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings

from enhancements.platform.partitions import drop_partitions_before, ensure_monthly_partitions

from .models import FeeCalculationLog

# Default retention: 96 months. GST records must be kept 72 months from the due date of
# the annual return (CGST Act 2017 s.36), which falls up to ~20 months after a fee is
# charged; 8 years covers that. Override with settings.FEES_LOG_RETENTION_MONTHS.
DEFAULT_RETENTION_MONTHS = 96
MONTHS_AHEAD = 3


def _months_back(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 - months
    return dt.date(index // 12, index % 12 + 1, 1)


def fee_log_partitions_maintain(*, today: dt.date) -> dict:
    table = FeeCalculationLog._meta.db_table
    created = ensure_monthly_partitions(table, start=today, months=MONTHS_AHEAD)
    retention = int(getattr(settings, "FEES_LOG_RETENTION_MONTHS", DEFAULT_RETENTION_MONTHS))
    if retention < 1:
        raise ValueError("FEES_LOG_RETENTION_MONTHS must be >= 1")
    dropped = drop_partitions_before(table, cutoff=_months_back(today, retention))
    return {"created": created, "dropped": dropped}
