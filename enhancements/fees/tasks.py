"""Thin Celery wrappers (beat: monthly reconciliation, daily log partition maintenance)."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.utils import timezone

from core_legacy.fields import core_tz

from .maintenance import fee_log_partitions_maintain
from .reconciliation import fee_reconciliation_run, month_period


@shared_task(name="fees.reconcile_previous_month")
def reconcile_previous_month() -> int:
    today = timezone.now().astimezone(core_tz()).date()
    start, end = month_period((today.replace(day=1) - dt.timedelta(days=1)))
    return len(fee_reconciliation_run(period_start=start, period_end=end, requested_by="beat"))


@shared_task(name="fees.reconcile")
def reconcile(period_start: str, period_end: str, client_ids: list[int] | None = None, requested_by: str = "") -> int:
    return len(fee_reconciliation_run(
        period_start=dt.date.fromisoformat(period_start), period_end=dt.date.fromisoformat(period_end),
        client_ids=client_ids, requested_by=requested_by or "on demand",
    ))  # fmt: skip


@shared_task(name="fees.maintain_log_partitions")
def maintain_log_partitions() -> dict:
    return fee_log_partitions_maintain(today=timezone.now().astimezone(core_tz()).date())
