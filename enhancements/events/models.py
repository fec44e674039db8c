"""The outbox: domain events, and one delivery row per interested consumer.

An event is written once (its `event_key` is unique, so a re-run or a concurrent
producer adds nothing). Each consumer (webhooks, compliance, fees...) gets its own
delivery row, claimed with FOR UPDATE SKIP LOCKED under a lease and acknowledged when
done: at-least-once per consumer, with a stable event id.
"""

import uuid

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
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "outbox_events"
        # Declared as a constraint and plain indexes (not unique=/db_index=) so PostgreSQL
        # gets no extra varchar_pattern_ops "_like" indexes: every lookup is by equality,
        # and each index costs a backfill of millions of events.
        constraints = [models.UniqueConstraint(fields=["event_key"], name="outbox_event_key_unique")]
        indexes = [
            models.Index(fields=["client_id", "created_at"], name="outbox_ev_client_created"),
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
    # database FK check: deliveries are only ever created by publish_many for the events it
    # has just inserted, and a per-row check at commit cost ~20% of a backfill.
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
