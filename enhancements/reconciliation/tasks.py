"""Thin Celery wrappers."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="reconciliation.reconcile_previous_day")
def reconcile_previous_day_task() -> list[int]:
    from .services import reconcile_previous_day

    return reconcile_previous_day()


@shared_task(name="reconciliation.run_execute")
def run_execute_task(run_id: int) -> None:
    from .models import ReconciliationRun
    from .services import reconciliation_run_execute

    reconciliation_run_execute(run=ReconciliationRun.objects.get(pk=run_id))
