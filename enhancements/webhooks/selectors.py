"""Reads for the merchant API and the admin. Every merchant read is scoped by client_id."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


def endpoints_for_merchant(*, client_id: int) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(client_id=client_id)


def deliveries_for_merchant(*, client_id: int) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(client_id=client_id)


def attempts_for_delivery(*, delivery: WebhookDelivery) -> QuerySet[WebhookAttempt]:
    # client_id repeats the scope: a delivery id alone never reaches another merchant's logs.
    return WebhookAttempt.objects.filter(delivery_id=delivery.id, client_id=delivery.client_id).order_by("attempted_at", "id")


def endpoint_health(*, endpoint_ids: list, since: dt.timedelta = dt.timedelta(days=1)) -> dict:
    """Per endpoint over the window: attempts, successes, success rate (None without attempts)."""
    rows = (
        WebhookAttempt.objects.filter(endpoint_id__in=endpoint_ids, attempted_at__gte=timezone.now() - since)
        .values("endpoint_id")
        .annotate(total=Count("id"), ok=Count("id", filter=Q(outcome="succeeded")))
    )
    health = {e: {"attempts": 0, "succeeded": 0, "success_rate": None} for e in endpoint_ids}
    for row in rows:
        health[row["endpoint_id"]] = {"attempts": row["total"], "succeeded": row["ok"],
                                      "success_rate": round(row["ok"] / row["total"], 4)}  # fmt: skip
    return health
