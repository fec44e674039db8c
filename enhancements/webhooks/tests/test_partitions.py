"""webhook_logs is partitioned by month; retention drops whole old partitions."""

import datetime as dt
import uuid

import pytest
from django.db import connection
from django.utils import timezone

from enhancements.webhooks.maintenance import webhook_logs_maintain

pytestmark = pytest.mark.django_db


def _insert(when):
    with connection.cursor() as c:
        c.execute(
            "INSERT INTO webhook_logs (attempted_at, delivery_id, endpoint_id, client_id, attempt, latency_ms, signature, outcome) "
            "VALUES (%s, 1, %s, 1, 1, 5, 'v1,x', 'succeeded')",
            [when, uuid.uuid4()],
        )


def _partition_of(when):
    with connection.cursor() as c:
        c.execute("SELECT tableoid::regclass::text FROM webhook_logs WHERE attempted_at = %s", [when])
        return c.fetchone()[0]


def test_monthly_partitions_and_retention(settings):
    settings.WEBHOOK_LOG_RETENTION_DAYS = 90
    today = timezone.now().date()
    now = timezone.now().replace(microsecond=0)
    old = now - dt.timedelta(days=200)
    _insert(now)
    _insert(old)  # no partition for that month: lands in the DEFAULT partition
    assert _partition_of(now) == f"webhook_logs_p{today:%Y%m}"
    assert _partition_of(old) == "webhook_logs_default"

    # a partition for the old month (as the job created back then), then retention
    from enhancements.platform.partitions import ensure_monthly_partitions

    ensure_monthly_partitions("webhook_logs", start=old.date(), months=1)
    assert _partition_of(old) == f"webhook_logs_p{old:%Y%m}"
    result = webhook_logs_maintain(today=today)
    assert f"webhook_logs_p{old:%Y%m}" in result["dropped"]
    assert f"webhook_logs_p{today:%Y%m}" not in result["dropped"]
    with connection.cursor() as c:
        c.execute("SELECT count(*) FROM webhook_logs")
        assert c.fetchone()[0] == 1
        c.execute("SELECT to_regclass('webhook_logs_p%s')" % f"{old:%Y%m}")
        assert c.fetchone()[0] is None
    # partitions exist ahead for the coming months
    nxt = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    with connection.cursor() as c:
        c.execute("SELECT to_regclass(%s)", [f"webhook_logs_p{nxt:%Y%m}"])
        assert c.fetchone()[0] is not None


def test_old_rows_in_the_default_partition_age_out(settings):
    settings.WEBHOOK_LOG_RETENTION_DAYS = 30
    old = timezone.now() - dt.timedelta(days=400)
    _insert(old)
    assert webhook_logs_maintain()["default_rows_deleted"] == 1


def test_finished_deliveries_past_retention_are_purged_pending_kept(settings, receiver):
    from enhancements.webhooks import services
    from enhancements.webhooks.maintenance import deliveries_purge
    from enhancements.webhooks.models import WebhookDelivery

    settings.WEBHOOK_LOG_RETENTION_DAYS = 30
    endpoint, _ = services.endpoint_create(client_id=1, client_code="M1", url=receiver.url, event_types=["*"])
    for state in ("succeeded", "failed", "pending"):
        services.endpoint_test_ping(endpoint=endpoint)
        last = WebhookDelivery.objects.order_by("-id").first()
        WebhookDelivery.objects.filter(pk=last.pk).update(state=state, created_at=timezone.now() - dt.timedelta(days=40))
    services.endpoint_test_ping(endpoint=endpoint)  # recent: kept
    assert deliveries_purge() == 2
    assert sorted(WebhookDelivery.objects.values_list("state", flat=True)) == ["pending", "pending"]
