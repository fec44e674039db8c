"""Reads for the reconciliation app."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet
from django.utils import timezone

from .models import Mismatch, SettlementFile


def files_uploaded_on(day: dt.date) -> QuerySet[SettlementFile]:
    """Imported files uploaded on `day` in the project's time zone (India)."""
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    return SettlementFile.objects.filter(
        status=SettlementFile.Status.IMPORTED, uploaded_at__gte=start, uploaded_at__lt=start + dt.timedelta(days=1)
    ).order_by("uploaded_at")


def open_mismatches(*, run_id: int | None = None) -> QuerySet[Mismatch]:
    qs = Mismatch.objects.filter(state=Mismatch.State.OPEN)
    return qs.filter(run_id=run_id) if run_id else qs
