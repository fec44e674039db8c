"""Reads of the compliance app."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet
from django.utils import timezone

from enhancements.regulatory.reporting import working_days_left

from .models import Alert, Holiday, ReportLog, ReportStatus


def holidays_between(start: dt.date, end: dt.date) -> set[dt.date]:
    return set(Holiday.objects.filter(day__gte=start, day__lte=end).values_list("day", flat=True))


def str_days_left(alert: Alert, today: dt.date | None = None) -> int | None:
    """Working days left on an open STR clock (negative: overdue); None without a running clock."""
    if not alert.str_due_on or alert.str_filed_at:
        return None
    today = today or timezone.localdate()
    lo, hi = min(today, alert.str_due_on), max(today, alert.str_due_on)
    return working_days_left(today, alert.str_due_on, holidays_between(lo, hi))


def open_str_clocks() -> QuerySet[Alert]:
    return Alert.objects.filter(str_decided_at__isnull=False, str_filed_at__isnull=True).order_by("str_due_on")


def overdue_reports(today: dt.date | None = None) -> QuerySet[ReportLog]:
    today = today or timezone.localdate()
    return ReportLog.objects.filter(status=ReportStatus.GENERATED, due_on__lt=today)
