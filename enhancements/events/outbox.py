"""Publish, claim and acknowledge outbox events. The API every consumer uses.

    with transaction.atomic():             # the producer's own transaction
        publish(event_key=..., type="refund.created", payload={...}, occurred_at=...)

    for claimed in claim(consumer="webhooks", limit=100):   # own short transaction
        handle(claimed.event)
    ack(consumer="webhooks", delivery_ids=[c.delivery_id for c in claimed])
    # or retry(...) with a delay and an error, or fail(...) to park it.

Claims take a lease (`lease_seconds`): a consumer that dies mid-batch loses nothing; its
deliveries become claimable again when the lease expires (at-least-once).

Publishing writes only the event row. A consumer's delivery rows are created when it
claims (`materialise`, called by `claim`), from its cursor over the events: a backfill of a
million events pays for one row per event instead of one per event and consumer, and
consumers create their rows in small batches as they go. A consumer registered for the
first time starts at the oldest event still in the outbox.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence

import psycopg
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from .models import OutboxConsumerCursor, OutboxDelivery, OutboxEvent
from .registry import consumers_for, like_patterns


@dataclasses.dataclass(frozen=True)
class NewEvent:
    event_key: str
    type: str
    payload: dict
    occurred_at: dt.datetime
    client_id: int | None = None
    client_code: str | None = None
    txn_id: str | None = None


@dataclasses.dataclass(frozen=True)
class ClaimedEvent:
    delivery_id: int
    attempts: int
    event: OutboxEvent


EVENTS = OutboxEvent._meta.db_table
DELIVERIES = OutboxDelivery._meta.db_table
CURSORS = OutboxConsumerCursor._meta.db_table
_ENCODER = DjangoJSONEncoder(separators=(",", ":"), sort_keys=True)


def _json(payload: dict) -> str:
    # Decimal -> "123.45" (exact), datetimes -> ISO 8601 with offset.
    return _ENCODER.encode(payload)


def publish(
    *,
    event_key: str,
    type: str,
    payload: dict,
    occurred_at: dt.datetime,
    client_id: int | None = None,
    client_code: str | None = None,
    txn_id: str | None = None,
) -> bool:
    """Write one event (in the caller's transaction). Returns False if the key already existed."""
    return publish_many(
        [NewEvent(event_key, type, payload, occurred_at, client_id, client_code, txn_id)]
    ) == 1


def publish_many(events: Sequence[NewEvent]) -> int:
    """Write events set-based; those whose event_key exists are skipped. Returns how many are new.

    Runs in the caller's transaction, so a producer's bookkeeping and its events commit
    together. The arrays travel as *binary* parameters through a server-side-binding
    psycopg cursor: with text arrays psycopg escapes every quote of every JSON payload
    in Python, which capped a backfill at ~2k events/s (binary is ~10x faster).
    """
    if not events:
        return 0
    with transaction.atomic():
        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cur:
            cur.execute(
                f"""
                INSERT INTO {EVENTS}
                    (id, event_key, type, client_id, client_code, txn_id, payload, occurred_at, created_at)
                SELECT outbox_uuid7(), u.event_key, u.type, u.client_id, u.client_code, u.txn_id,
                       u.payload::jsonb, u.occurred_at, %b
                FROM unnest(%b::text[], %b::text[], %b::int[], %b::text[], %b::text[], %b::text[], %b::timestamptz[])
                    AS u(event_key, type, client_id, client_code, txn_id, payload, occurred_at)
                ON CONFLICT (event_key) DO NOTHING
                RETURNING type
                """,
                [
                    timezone.now(),
                    [e.event_key for e in events],
                    [e.type for e in events],
                    [e.client_id for e in events],
                    [e.client_code for e in events],
                    [e.txn_id for e in events],
                    [_json(e.payload) for e in events],
                    [e.occurred_at for e in events],
                ],
            )
            created = cur.fetchall()
    announce_on_commit({row[0] for row in created})
    return len(created)


def insert_from_sql(select_sql: str) -> str:
    """An INSERT of the events a SELECT produces, for producers that derive events in SQL.

    select_sql yields (event_key, type, client_id, client_code, txn_id, payload jsonb,
    occurred_at, created_at) in that order; as in publish_many, an existing event_key is
    skipped. The statement RETURNs the type of each new event: pass their set to
    announce_on_commit(). Usable as a data-modifying CTE: `new_events AS (<this>)`.
    """
    return f"""
        INSERT INTO {EVENTS} (id, event_key, type, client_id, client_code, txn_id, payload, occurred_at, created_at)
        SELECT outbox_uuid7(), e.* FROM ({select_sql}) e
        ON CONFLICT (event_key) DO NOTHING
        RETURNING type
    """


def announce_on_commit(event_types: Iterable[str]) -> None:
    """After the producer's commit, tell the consumers of these event types they have work."""
    names = sorted({consumer for event_type in set(event_types) for consumer in consumers_for(event_type)})
    if names:
        from .signals import deliveries_created

        transaction.on_commit(lambda: deliveries_created.send(sender=OutboxEvent, consumers=names))


def materialise(*, consumer: str, max_events: int = 5000) -> int:
    """Create `consumer`'s delivery rows for the next events after its cursor; returns how many.

    Why the cursor order (created_xid, seq) is safe: every transaction whose id is below
    the snapshot's xmin has finished, so no event with such a created_xid can still
    appear. The cursor only ever moves past events below xmin; an event written later
    has a higher created_xid and lands after it. Events above xmin that are already
    visible (committed, or written by this very transaction) get their deliveries too,
    so a long transaction elsewhere does not hold consumers back; the cursor passes them
    later and the unique (event, consumer) index makes that a no-op.

    Only one claimer per consumer materialises at a time (the cursor row is locked with
    SKIP LOCKED); the others go straight to claiming what exists.
    """
    patterns = like_patterns(consumer)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {CURSORS} (consumer, last_xid, last_seq, updated_at) VALUES (%s, '0', 0, now()) "
            "ON CONFLICT (consumer) DO NOTHING",
            [consumer],
        )
        cursor.execute(
            f"SELECT last_xid::text, last_seq FROM {CURSORS} WHERE consumer = %s FOR UPDATE SKIP LOCKED", [consumer]
        )
        position = cursor.fetchone()
        if position is None:
            return 0  # another claimer of this consumer is materialising right now
        cursor.execute(
            f"""
            WITH scanned AS MATERIALIZED (
                SELECT e.id, e.type, e.created_xid, e.seq
                FROM {EVENTS} e
                WHERE (e.created_xid, e.seq) > (%(xid)s::xid8, %(seq)s)
                ORDER BY e.created_xid, e.seq
                LIMIT %(limit)s
            ), created AS (
                INSERT INTO {DELIVERIES} (event_id, consumer, state, attempts, available_at, last_error)
                SELECT s.id, %(consumer)s, 'pending', 0, now(), ''
                FROM scanned s
                WHERE s.type LIKE ANY(%(patterns)s)
                ORDER BY s.created_xid, s.seq
                ON CONFLICT (event_id, consumer) DO NOTHING
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM created),
                   passed.created_xid::text, passed.seq
            FROM (SELECT 1) one
            LEFT JOIN LATERAL (
                SELECT s.created_xid, s.seq FROM scanned s
                WHERE s.created_xid < pg_snapshot_xmin(pg_current_snapshot())
                ORDER BY s.created_xid DESC, s.seq DESC LIMIT 1
            ) passed ON true
            """,
            {"xid": position[0], "seq": position[1], "limit": max_events, "consumer": consumer, "patterns": patterns},
        )
        created, last_xid, last_seq = cursor.fetchone()
        if last_xid is not None:
            cursor.execute(
                f"UPDATE {CURSORS} SET last_xid = %s::xid8, last_seq = %s, updated_at = now() WHERE consumer = %s",
                [last_xid, last_seq, consumer],
            )
    return created


def has_due(*, consumer: str) -> bool:
    """Whether `consumer` has anything to claim now (creating its new deliveries first)."""
    materialise(consumer=consumer)
    return OutboxDelivery.objects.filter(
        consumer=consumer, state=OutboxDelivery.State.PENDING, available_at__lte=timezone.now()
    ).exists()


def claim(*, consumer: str, limit: int = 100, lease_seconds: int = 60, event_types: Iterable[str] | None = None) -> list[ClaimedEvent]:
    """Claim up to `limit` due deliveries for `consumer` (FOR UPDATE SKIP LOCKED), leased for lease_seconds.

    Concurrent claimers never get the same delivery while its lease runs.
    """
    materialise(consumer=consumer, max_events=max(1000, min(limit * 10, 20000)))
    now = timezone.now()
    type_filter = ""
    params: list = [consumer, now]
    if event_types is not None:
        type_filter = "AND e.type = ANY(%s)"
        params.append(list(event_types))
    params.append(limit)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT d.id FROM {DELIVERIES} d
            JOIN {EVENTS} e ON e.id = d.event_id
            WHERE d.consumer = %s AND d.state = 'pending' AND d.available_at <= %s {type_filter}
            ORDER BY d.available_at, d.id
            LIMIT %s
            FOR UPDATE OF d SKIP LOCKED
            """,
            params,
        )
        ids = [r[0] for r in cursor.fetchall()]
        if not ids:
            return []
        OutboxDelivery.objects.filter(id__in=ids).update(
            available_at=now + dt.timedelta(seconds=lease_seconds), attempts=F("attempts") + 1
        )
    deliveries = OutboxDelivery.objects.filter(id__in=ids).select_related("event").order_by("id")
    return [ClaimedEvent(d.id, d.attempts, d.event) for d in deliveries]


def ack(*, consumer: str, delivery_ids: Iterable[int]) -> int:
    """Mark deliveries done. Idempotent; returns how many changed."""
    return OutboxDelivery.objects.filter(consumer=consumer, id__in=list(delivery_ids), state=OutboxDelivery.State.PENDING).update(
        state=OutboxDelivery.State.DONE, done_at=timezone.now(), last_error=""
    )


def retry(*, consumer: str, delivery_ids: Iterable[int], delay: dt.timedelta, error: str) -> int:
    """Give deliveries back to be claimed again after `delay`."""
    return OutboxDelivery.objects.filter(consumer=consumer, id__in=list(delivery_ids), state=OutboxDelivery.State.PENDING).update(
        available_at=timezone.now() + delay, last_error=error[:2000]
    )


def fail(*, consumer: str, delivery_ids: Iterable[int], error: str) -> int:
    """Park deliveries a consumer can never process (visible in admin; can be re-queued)."""
    return OutboxDelivery.objects.filter(consumer=consumer, id__in=list(delivery_ids), state=OutboxDelivery.State.PENDING).update(
        state=OutboxDelivery.State.FAILED, last_error=error[:2000]
    )


def requeue(*, delivery_ids: Iterable[int]) -> int:
    """Operator action: put failed (or done) deliveries back in the queue."""
    return OutboxDelivery.objects.filter(id__in=list(delivery_ids)).exclude(state=OutboxDelivery.State.PENDING).update(
        state=OutboxDelivery.State.PENDING, available_at=timezone.now(), done_at=None
    )
