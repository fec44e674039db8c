"""A payment event reaches the compliance consumer through a real Celery worker (kicked on commit),
and the beat schedules exist as editable rows."""

import time

import pytest
from django.db import transaction
from django_celery_beat.models import PeriodicTask

from enhancements.compliance.models import Alert
from enhancements.compliance.rules.catalogue import rules_install

from .conftest import ist, txn
from .test_dedupe_and_events import _publish


@pytest.mark.django_db(transaction=True, databases=["default", "core"])
def test_event_is_consumed_by_the_worker_after_commit(core_rows, celery_worker):
    rules_install()  # an earlier transactional test may have flushed the migration's rule rows
    row = txn(core_rows, 601, "650000.00", ist(3), payment_mode="International Card")
    with transaction.atomic():
        _publish("payment.succeeded", row, key="celery-1")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and Alert.objects.filter(entity_key=row["txn_id"]).count() < 2:
        time.sleep(0.3)
    assert sorted(Alert.objects.filter(entity_key=row["txn_id"]).values_list("rule_code", flat=True)) == [
        "CROSS_BORDER", "HIGH_VALUE"]


@pytest.mark.django_db
def test_beat_schedules_are_installed():
    tasks = dict(PeriodicTask.objects.filter(task__startswith="compliance.").values_list("task", "crontab__hour"))
    assert set(tasks) == {"compliance.consume_events", "compliance.scan_month", "compliance.scan_previous_month",
                          "compliance.kyc_scan", "compliance.monthly_reports"}
    assert tasks["compliance.monthly_reports"] == "5"
