"""Bookkeeping of the core change feed.

The core gets no triggers and no updated-at column, so the feed keeps its own memory:
- TxnState: one compact row per core transaction (txn_id, a 64-bit hash of the tracked
  columns, and a bitmask of the lifecycle events already emitted). A poll returns to
  Python only the rows whose hash differs from the stored one.
- RefundRequestSeen: the refund_request_from_client rows already announced.
- FeedState: per source, the watermarks (newest change time seen, highest refund_id),
  the look-back window (editable by operators) and the last poll's figures.
- FeedError: a core row the feed could not translate (table, key, column, value).
All of them are written in the same transaction as the events they account for.
"""

from django.db import models


class FeedState(models.Model):
    class Source(models.TextChoices):
        TRANSACTIONS = "transaction_detail", "transaction_detail"
        REFUND_REQUESTS = "refund_request_from_client", "refund_request_from_client"

    source = models.CharField(max_length=64, choices=Source.choices, unique=True)
    lookback_days = models.PositiveIntegerField(
        default=30, help_text="rows whose trans_date is this recent are compared on every poll (late updates)"
    )
    watermark = models.DateTimeField(
        null=True, blank=True, help_text="newest change time (any lifecycle time column) among rows processed"
    )
    last_refund_id = models.BigIntegerField(null=True, blank=True, help_text="highest refund_id announced")
    last_poll_started_at = models.DateTimeField(null=True, blank=True)
    last_success_started_at = models.DateTimeField(
        null=True, blank=True, help_text="start of the last complete poll: core changes after it are not seen yet"
    )
    last_poll_finished_at = models.DateTimeField(null=True, blank=True)
    last_poll_seconds = models.FloatField(null=True, blank=True)
    last_poll_rows_changed = models.PositiveIntegerField(default=0)
    last_poll_events = models.PositiveIntegerField(default=0)
    last_poll_error = models.TextField(blank=True, default="")
    last_old_row_sweep_at = models.DateTimeField(null=True, blank=True)
    backfill_since = models.DateTimeField(null=True, blank=True)
    backfill_done_through = models.DateTimeField(
        null=True, blank=True, help_text="a running/interrupted backfill committed everything before this"
    )

    class Meta:
        db_table = "changefeed_state"
        verbose_name = "feed status"
        verbose_name_plural = "feed status"

    def __str__(self) -> str:
        return self.source


class TxnState(models.Model):
    txn_id = models.CharField(max_length=64, primary_key=True)
    trans_date = models.DateTimeField(db_index=True)
    fingerprint = models.BigIntegerField(help_text="hash_record_extended of the tracked columns")
    events_mask = models.IntegerField(default=0, help_text="bit per lifecycle event already emitted")
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "changefeed_txn_state"


class RefundRequestSeen(models.Model):
    refund_id = models.BigIntegerField(primary_key=True)
    seen_at = models.DateTimeField()

    class Meta:
        db_table = "changefeed_refund_request_seen"


class FeedError(models.Model):
    source_table = models.CharField(max_length=64)
    row_key = models.CharField(max_length=200)
    column_name = models.CharField(max_length=64)
    value = models.TextField(blank=True, default="")
    message = models.TextField()
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    occurrences = models.PositiveIntegerField(default=1)
    resolved_at = models.DateTimeField(null=True, blank=True, help_text="the row later translated cleanly")

    class Meta:
        db_table = "changefeed_errors"
        constraints = [
            models.UniqueConstraint(fields=["source_table", "row_key", "column_name"], name="changefeed_error_once")
        ]
        indexes = [models.Index(fields=["-last_seen_at"], name="changefeed_err_recent")]

    def __str__(self) -> str:
        return f"{self.source_table}[{self.row_key}].{self.column_name}"
