"""The outbox: domain events, a cursor per consumer, and one delivery row per consumer and event.

An event is written once (its `event_key` is unique, so a re-run or a concurrent
producer adds nothing). Publishing writes only the event: each consumer (webhooks,
compliance, refunds...) gets its delivery row when it next claims, for every event
after its cursor whose type it subscribes to (outbox.materialise). Deliveries are
claimed with FOR UPDATE SKIP LOCKED under a lease and acknowledged when done:
at-least-once per consumer, with a stable event id.

outbox_events has two columns the model does not declare, both filled by PostgreSQL
(migration 0004): `seq` (identity) and `created_xid` (xid8, the writing transaction,
`pg_current_xact_id()`). Cursors walk events in (created_xid, seq) order; see
outbox.materialise for why that order is safe.
"""

import uuid

from django.contrib.postgres.indexes import BrinIndex
from django.db import models


class OutboxEvent(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    event_key = models.CharField(max_length=200, help_text="stable identity: a second emission is a no-op")
    type = models.CharField(max_length=64)
    client_id = models.IntegerField(null=True, blank=True)
    client_code = models.CharField(max_length=64, null=True, blank=True)
    txn_id = models.CharField(max_length=64, null=True, blank=True)
    payload = models.JSONField()
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "outbox_events"
        # Declared as a constraint and plain indexes (not unique=/db_index=) so PostgreSQL
        # gets no extra varchar_pattern_ops "_like" indexes: every lookup is by equality,
        # and each index costs a backfill of millions of events.
        constraints = [models.UniqueConstraint(fields=["event_key"], name="outbox_event_key_unique")]
        # created_at grows with the physical order of the rows (the table is append-only), so
        # a BRIN index serves "events of the last hour" at almost no cost per insert; a
        # btree on it cost ~10% of a backfill.
        indexes = [
            BrinIndex(fields=["created_at"], name="outbox_ev_created_brin"),
            models.Index(fields=["txn_id"], name="outbox_ev_txn_id"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.txn_id or ''} ({self.id})"


class OutboxDelivery(models.Model):
    class State(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        FAILED = "failed"

    id = models.BigAutoField(primary_key=True)
    # No separate index (the unique (event, consumer) index leads with event_id) and no
    # database FK check: deliveries are only ever created by outbox.materialise from
    # existing events, and a per-row check at commit costs ~20% of a bulk insert.
    event = models.ForeignKey(
        OutboxEvent, on_delete=models.CASCADE, related_name="deliveries", db_index=False, db_constraint=False
    )
    consumer = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    available_at = models.DateTimeField(help_text="not claimable before this (lease expiry or retry time)")
    last_error = models.TextField(blank=True, default="")
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "outbox_deliveries"
        constraints = [models.UniqueConstraint(fields=["event", "consumer"], name="outbox_delivery_once_per_consumer")]
        indexes = [
            models.Index(
                fields=["consumer", "available_at", "id"],
                name="outbox_dlv_claimable",
                condition=models.Q(state="pending"),
            )
        ]


class OutboxConsumerCursor(models.Model):
    """How far a consumer's deliveries have been created: the last (created_xid, seq) passed.

    The position columns are xid8 / bigint and are read and written only by
    outbox.materialise in SQL; the model exists for the admin and the migration.
    """

    consumer = models.CharField(max_length=64, primary_key=True)
    last_seq = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "outbox_consumer_cursors"

    def __str__(self) -> str:
        return f"{self.consumer} @ {self.last_seq}"
