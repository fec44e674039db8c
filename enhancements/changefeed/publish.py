"""Bulk publishing into the outbox for the feed's large batches.

Same contract as enhancements.events.outbox.publish_many (same tables, event_key
idempotency, one delivery per matching registered consumer, deliveries_created sent on
commit), but the arrays travel as *binary* parameters. publish_many sends text arrays,
and psycopg escapes every quote of every JSON payload in Python on the way: measured
at ~2k events/s, which would cap a backfill far below 20k rows/s. Binary arrays need no
escaping (~10x faster). Candidate to move into outbox.py (see docs/change-feed.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.core.serializers.json import DjangoJSONEncoder
import psycopg
from django.db import connection, transaction
from django.utils import timezone

from enhancements.events.models import OutboxDelivery, OutboxEvent
from enhancements.events.outbox import NewEvent
from enhancements.events.registry import consumers_for

_encoder = DjangoJSONEncoder(separators=(",", ":"), sort_keys=True)


def publish_events(events: Sequence[NewEvent]) -> int:
    """Write events in the caller's transaction; those whose event_key exists are skipped."""
    if not events:
        return 0
    now = timezone.now()
    with transaction.atomic():
        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cur:  # server-side binding (Django's is client-side)
            cur.execute(
                f"""
                INSERT INTO {OutboxEvent._meta.db_table}
                    (id, event_key, type, client_id, client_code, txn_id, payload, occurred_at, created_at)
                SELECT gen_random_uuid(), u.event_key, u.type, u.client_id, u.client_code, u.txn_id,
                       u.payload::jsonb, u.occurred_at, %b
                FROM unnest(%b::text[], %b::text[], %b::int[], %b::text[], %b::text[], %b::text[], %b::timestamptz[])
                    AS u(event_key, type, client_id, client_code, txn_id, payload, occurred_at)
                ON CONFLICT (event_key) DO NOTHING
                RETURNING id, type
                """,
                [
                    now,
                    [e.event_key for e in events],
                    [e.type for e in events],
                    [e.client_id for e in events],
                    [e.client_code for e in events],
                    [e.txn_id for e in events],
                    [_encoder.encode(e.payload) for e in events],
                    [e.occurred_at for e in events],
                ],
            )
            created = cur.fetchall()
            by_type: dict[str, list[str]] = {}
            event_ids, consumers = [], []
            for event_id, event_type in created:
                if event_type not in by_type:
                    by_type[event_type] = consumers_for(event_type)
                for consumer in by_type[event_type]:
                    event_ids.append(event_id)
                    consumers.append(consumer)
            if event_ids:
                cur.execute(
                    f"""
                    INSERT INTO {OutboxDelivery._meta.db_table}
                        (event_id, consumer, state, attempts, available_at, last_error)
                    SELECT d.event_id, d.consumer, 'pending', 0, %b, ''
                    FROM unnest(%b::uuid[], %b::text[]) AS d(event_id, consumer)
                    """,
                    [now, event_ids, consumers],
                )
    if event_ids:
        from enhancements.events.signals import deliveries_created

        names = sorted(set(consumers))
        transaction.on_commit(lambda: deliveries_created.send(sender=OutboxEvent, consumers=names))
    return len(created)
