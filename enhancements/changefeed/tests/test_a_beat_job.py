"""The beat job exists after migrate (this file sorts first: transactional tests flush tables)."""

import pytest
from django_celery_beat.models import PeriodicTask

from enhancements.changefeed.models import FeedState


@pytest.mark.django_db
def test_poll_runs_every_10_seconds_as_an_editable_beat_job():
    task = PeriodicTask.objects.get(name="changefeed: poll the core")
    assert task.task == "enhancements.changefeed.tasks.poll" and task.enabled
    assert (task.interval.every, task.interval.period) == (10, "seconds")
    assert set(FeedState.objects.values_list("source", flat=True)) == {"transaction_detail", "refund_request_from_client"}
