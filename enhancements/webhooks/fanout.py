"""Outbox events -> one delivery per subscribed endpoint, set-based, in ONE transaction.

The claim (`FOR UPDATE SKIP LOCKED` on this consumer's outbox deliveries), the insert of the
webhook deliveries and the ack all happen in one transaction: concurrent fan-outs skip each
other's rows, and a crash anywhere rolls everything back so the rows are simply claimed again
(no lease to wait out, no event fanned out twice). It reads the outbox rows with one plain
SQL statement instead of `outbox.claim` (which loads ORM objects and needs three round trips:
fan-out was the slowest step per event), after `outbox.materialise` has created this
consumer's deliveries for new events. The outbox semantics are kept: only `pending` rows
whose `available_at` is due, oldest first; done rows get `done_at`, refused ones are parked
as `failed` with the reason (re-queueable by operators like any outbox failure); `attempts`
counts committed attempts (a rolled-back one leaves no trace, by design).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict

from django.db import transaction
from django.utils import timezone

from enhancements.events import outbox
from enhancements.events.models import OutboxDelivery, OutboxEvent

from . import kicks
from .db import execute, fast_cursor
from .models import WebhookDelivery, WebhookEndpoint
from .rendering import PayloadTooLarge, current_templates, render
from .validation import subscribed

log = logging.getLogger(__name__)

CONSUMER = "webhooks"
OUTBOX_DELIVERIES = OutboxDelivery._meta.db_table
OUTBOX_EVENTS = OutboxEvent._meta.db_table
QUEUE = WebhookDelivery._meta.db_table
ENDPOINTS = WebhookEndpoint._meta.db_table


def fan_out_batch(*, limit: int = 500) -> int:
    """Claim up to `limit` due outbox events; returns how many were claimed (0 = nothing due)."""
    # Create this consumer's deliveries for new events first (its own short transaction,
    # so concurrent fan-outs can claim them at once).
    outbox.materialise(consumer=CONSUMER, max_events=max(1000, limit * 10))
    with transaction.atomic(), fast_cursor() as cursor:
        execute(
            cursor,
            f"""
            SELECT d.id, e.id, e.type, e.client_id, e.txn_id, e.payload::text, e.occurred_at, e.created_at
            FROM {OUTBOX_DELIVERIES} d JOIN {OUTBOX_EVENTS} e ON e.id = d.event_id
            WHERE d.consumer = %s AND d.state = 'pending' AND d.available_at <= %s
            ORDER BY d.available_at, d.id
            LIMIT %s
            FOR UPDATE OF d SKIP LOCKED
            """,
            [CONSUMER, timezone.now(), limit],
        )
        claimed = cursor.fetchall()
        if not claimed:
            return 0
        client_ids = list({row[3] for row in claimed if row[3] is not None})
        endpoints: dict[int, list[tuple]] = defaultdict(list)
        if client_ids:
            execute(cursor, f"SELECT id, client_id, event_types FROM {ENDPOINTS} WHERE client_id = ANY(%s) AND is_active", [client_ids])
            for endpoint_id, client_id, event_types in cursor.fetchall():
                endpoints[client_id].append((endpoint_id, event_types if isinstance(event_types, list) else json.loads(event_types)))
        templates = current_templates()
        rows: list[tuple] = []
        done, refused = [], []
        for delivery_id, event_id, event_type, client_id, txn_id, payload, occurred_at, created_at in claimed:
            targets = [eid for eid, types in endpoints.get(client_id, ()) if subscribed(types, event_type)]
            if targets:
                try:
                    body, version = render(event_type=event_type, occurred_at=occurred_at.isoformat(), payload=json.loads(payload),
                                           template=templates.get(event_type))  # fmt: skip
                except PayloadTooLarge as exc:
                    refused.append((delivery_id, str(exc)))
                    continue
                msg_id = f"msg_{event_id.hex}"
                rows.extend((eid, client_id, event_id, event_type, txn_id, msg_id, body, version, created_at) for eid in targets)
            done.append(delivery_id)
        if rows:
            _insert(cursor, rows)
        if done:
            execute(
                cursor,
                f"UPDATE {OUTBOX_DELIVERIES} SET state = 'done', done_at = %s, last_error = '', attempts = attempts + 1 WHERE id = ANY(%s)",
                [timezone.now(), done],
            )
        for delivery_id, error in refused:
            log.error("webhooks: outbox delivery %s refused: %s", delivery_id, error)
            cursor.execute(
                f"UPDATE {OUTBOX_DELIVERIES} SET state = 'failed', last_error = %s, attempts = attempts + 1 WHERE id = %s",
                [error[:2000], delivery_id],
            )
        if rows:
            kicks.after_commit_deliver()
    return len(claimed)


def _insert(cursor, rows: list[tuple]) -> None:
    columns = list(zip(*rows))
    execute(
        cursor,
        f"""
        INSERT INTO {QUEUE} (endpoint_id, client_id, event_id, event_type, txn_id, msg_id, body, template_version,
                             event_created_at, state, attempts, next_attempt_at, last_error, created_at, is_replay)
        SELECT r.*, 'pending', 0, now(), '', now(), false
        FROM unnest(%b::uuid[], %b::int[], %b::uuid[], %b::text[], %b::text[], %b::text[], %b::text[], %b::int[],
                    %b::timestamptz[]) AS r
        ON CONFLICT (endpoint_id, event_id) WHERE event_id IS NOT NULL AND NOT is_replay DO NOTHING
        """,
        [list(c) for c in columns],
    )
