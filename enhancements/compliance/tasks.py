"""Thin Celery wrappers (scheduled by beat rows created in a data migration)."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.utils import timezone


def _previous_month(today: dt.date) -> dt.date:
    return (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


@shared_task(name="compliance.consume_events")
def compliance_consume_events() -> dict:
    from .rules.realtime import consume

    total = {"processed": 0, "failed": 0, "alerts": 0, "rescans": 0}
    while True:  # drain, batch by batch
        stats = consume()
        for key, value in stats.items():
            total[key] += value
        if stats["processed"] + stats["failed"] == 0:
            return total


@shared_task(name="compliance.scan_month")
def compliance_scan_month(month: str | None = None) -> dict:
    """Windowed rules over a month (default: the current month, India time)."""
    from .rules.scan import scan_month

    day = dt.date.fromisoformat(month) if month else timezone.localdate()
    result = scan_month(month=day)
    return {"month": result.month.isoformat(), "staged": result.staged_rows, "created": result.created}


@shared_task(name="compliance.scan_previous_month")
def compliance_scan_previous_month() -> dict:
    """Closes the previous month's windows once (late core updates land in the first days)."""
    return compliance_scan_month(_previous_month(timezone.localdate()).isoformat())


@shared_task(name="compliance.kyc_scan")
def compliance_kyc_scan() -> dict:
    from .rules.kyc_scan import kyc_scan

    result = kyc_scan(today=timezone.localdate())
    return {"due_soon": result.due_soon, "due": result.due, "expired": result.expired}


@shared_task(name="compliance.monthly_reports")
def compliance_monthly_reports(month: str | None = None) -> list[int]:
    """CTR, CBWTR, TAT and the management summary for the previous month (CSV + XML each)."""
    from .reports.generate import monthly_reports_generate

    day = dt.date.fromisoformat(month) if month else _previous_month(timezone.localdate())
    return [log.pk for log in monthly_reports_generate(month=day, actor=None)]
