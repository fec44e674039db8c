"""Outbox events -> one delivery per subscribed endpoint, in the transaction that acks them."""

from __future__ import annotations

import logging
from collections import defaultdict

from django.db import connection, transaction

from enhancements.events import outbox

from . import kicks
from .models import WebhookDelivery, WebhookEndpoint
from .rendering import PayloadTooLarge, current_templates, render
from .validation import subscribed

log = logging.getLogger(__name__)

CONSUMER = "webhooks"


def fan_out_batch(*, limit: int = 500) -> int:
    """Claim up to `limit` outbox events; returns how many were claimed (0 = nothing due)."""
    claimed = outbox.claim(consumer=CONSUMER, limit=limit, lease_seconds=60)
    if not claimed:
        return 0
    client_ids = {c.event.client_id for c in claimed if c.event.client_id is not None}
    endpoints = defaultdict(list)
    for endpoint in WebhookEndpoint.objects.filter(client_id__in=client_ids, is_active=True).only("id", "client_id", "event_types"):
        endpoints[endpoint.client_id].append(endpoint)
    templates = current_templates()
    rows: list[tuple] = []
    done, refused = [], []
    for item in claimed:
        event = item.event
        targets = [e for e in endpoints.get(event.client_id, ()) if subscribed(e.event_types, event.type)]
        if targets:
            try:
                body, version = render(event_type=event.type, occurred_at=event.occurred_at.isoformat(), payload=event.payload,
                                       template=templates.get(event.type))  # fmt: skip
            except PayloadTooLarge as exc:
                refused.append((item.delivery_id, str(exc)))
                continue
            for endpoint in targets:
                rows.append((endpoint.pk, event.client_id, event.id, event.type, event.txn_id, f"msg_{event.id.hex}", body,
                             version, event.created_at))  # fmt: skip
        done.append(item.delivery_id)
    with transaction.atomic():
        if rows:
            _insert(rows)
        outbox.ack(consumer=CONSUMER, delivery_ids=done)
        for delivery_id, error in refused:
            log.error("webhooks: outbox delivery %s refused: %s", delivery_id, error)
            outbox.fail(consumer=CONSUMER, delivery_ids=[delivery_id], error=error)
        if rows:
            kicks.after_commit_deliver()
    return len(claimed)


def _insert(rows: list[tuple]) -> None:
    columns = list(zip(*rows))
    table = WebhookDelivery._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (endpoint_id, client_id, event_id, event_type, txn_id, msg_id, body, template_version,
                                 event_created_at, state, attempts, next_attempt_at, last_error, created_at, is_replay)
            SELECT r.*, 'pending', 0, now(), '', now(), false
            FROM unnest(%s::uuid[], %s::int[], %s::uuid[], %s::text[], %s::text[], %s::text[], %s::text[], %s::int[],
                        %s::timestamptz[]) AS r
            ON CONFLICT (endpoint_id, event_id) WHERE event_id IS NOT NULL AND NOT is_replay DO NOTHING
            """,
            [list(c) for c in columns],
        )
