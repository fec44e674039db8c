"""Hourly upkeep: webhook_logs partitions ahead, old partitions dropped after the retention
period, finished deliveries past retention deleted, endpoints failing too long disabled."""

from __future__ import annotations

import datetime as dt
import logging

from django.db import connection
from django.utils import timezone

from enhancements.platform.partitions import drop_partitions_before, ensure_monthly_partitions

from . import conf
from .delivery import disable_failing_endpoints
from .models import WebhookDelivery

log = logging.getLogger(__name__)

LOG_TABLE = "webhook_logs"


def webhook_logs_maintain(*, today: dt.date | None = None) -> dict:
    today = today or timezone.now().date()
    created = ensure_monthly_partitions(LOG_TABLE, start=today.replace(day=1), months=3)
    cutoff = today - dt.timedelta(days=conf.log_retention_days())
    dropped = drop_partitions_before(LOG_TABLE, cutoff=cutoff)
    # Rows that fell into the DEFAULT partition (no monthly partition existed) age out too.
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {LOG_TABLE}_default WHERE attempted_at < %s", [cutoff])
        default_deleted = cursor.rowcount
    if created or dropped:
        log.info("webhook_logs partitions created %s, dropped %s", created, dropped)
    return {"created": created, "dropped": dropped, "default_rows_deleted": default_deleted}


def deliveries_purge(*, now: dt.datetime | None = None, batch: int = 10_000) -> int:
    """Delete finished deliveries older than the log retention (replay needs only 14 days)."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=max(conf.log_retention_days(), conf.recover_window().days))
    total = 0
    while True:
        ids = list(
            WebhookDelivery.objects.filter(created_at__lt=cutoff).exclude(state=WebhookDelivery.State.PENDING)
            .values_list("id", flat=True)[:batch]
        )  # fmt: skip
        if not ids:
            return total
        total += WebhookDelivery.objects.filter(id__in=ids).delete()[0]


def maintain() -> dict:
    result = webhook_logs_maintain()
    result["deliveries_purged"] = deliveries_purge()
    result["endpoints_disabled"] = disable_failing_endpoints(now=timezone.now())
    return result
