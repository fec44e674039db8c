"""Merchant webhook endpoints, templates, the delivery queue, attempt logs and alerts.

Tables as the architecture names them: webhook_config (endpoints), webhook_templates,
webhook_event_queue (one row per event per endpoint: the delivery), webhook_logs (one row
per HTTP attempt; monthly partitions created by a RunSQL migration, hence managed=False),
plus webhook_alerts (operator-visible alerts, e.g. an endpoint auto-disabled).
"""

import uuid

from django.db import models


class WebhookEndpoint(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client_id = models.IntegerField(db_index=True)
    client_code = models.CharField(max_length=64)
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=500, blank=True, default="")
    event_types = models.JSONField(default=list, help_text='event types or patterns, e.g. ["payment.succeeded", "refund.*"]; ["*"] = all')
    is_active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=500, blank=True, default="")
    disabled_at = models.DateTimeField(null=True, blank=True)
    timeout_s = models.FloatField(default=10.0)
    rate_limit_per_s = models.PositiveIntegerField(null=True, blank=True, help_text="max deliveries per second; empty = unlimited")
    secret_encrypted = models.TextField(editable=False)
    previous_secret_encrypted = models.TextField(blank=True, default="", editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True, help_text="start of the current run of failed attempts")
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_failure_reason = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "webhook_config"
        verbose_name = "webhook endpoint"
        indexes = [models.Index(fields=["client_id", "is_active"], name="webhook_cfg_client_active")]

    def __str__(self) -> str:
        return f"{self.client_code} {self.url}"


class WebhookTemplate(models.Model):
    """How an event type's payload becomes a webhook body. Versioned: the highest active
    version is used at enqueue time; queued deliveries keep the body rendered then."""

    event_type = models.CharField(max_length=64)
    version = models.PositiveIntegerField()
    fields = models.JSONField(default=list, blank=True, help_text="payload keys to include, in order; empty = all keys")
    rename = models.JSONField(default=dict, blank=True, help_text='{"payload_key": "body_key"} renames')
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "webhook_templates"
        constraints = [models.UniqueConstraint(fields=["event_type", "version"], name="webhook_template_version_once")]

    def __str__(self) -> str:
        return f"{self.event_type} v{self.version}"


class WebhookDelivery(models.Model):
    class State(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed", "failed (dead letter)"

    id = models.BigAutoField(primary_key=True)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    client_id = models.IntegerField()
    event_id = models.UUIDField(null=True, blank=True, help_text="outbox event; empty for a test ping")
    event_type = models.CharField(max_length=64)
    txn_id = models.CharField(max_length=64, null=True, blank=True)
    msg_id = models.CharField(max_length=64, help_text="webhook-id header: the same for every retry and replay of an event")
    body = models.TextField(help_text="exact JSON bytes sent and signed")
    template_version = models.PositiveIntegerField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(help_text="due time; while an attempt runs, the lease expiry")
    last_status_code = models.IntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    replay_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replays")
    is_replay = models.BooleanField(default=False)
    event_created_at = models.DateTimeField(null=True, blank=True, help_text="when the event was committed to the outbox")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "webhook_event_queue"
        verbose_name_plural = "webhook deliveries"
        constraints = [
            # Fan-out is idempotent: an outbox event re-claimed after a lost lease adds nothing.
            models.UniqueConstraint(
                fields=["endpoint", "event_id"], name="webhook_delivery_once",
                condition=models.Q(event_id__isnull=False, is_replay=False),
            ),  # fmt: skip
        ]
        indexes = [
            models.Index(fields=["next_attempt_at", "id"], name="webhook_dlv_due", condition=models.Q(state="pending")),
            models.Index(fields=["client_id", "-id"], name="webhook_dlv_client"),
            models.Index(fields=["endpoint", "state", "created_at"], name="webhook_dlv_endpoint"),
            models.Index(fields=["txn_id"], name="webhook_dlv_txn"),
            models.Index(fields=["msg_id"], name="webhook_dlv_msg"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint_id} ({self.state})"


class WebhookAttempt(models.Model):
    """One HTTP attempt. Table created by migration 0002 (partitioned by attempted_at)."""

    id = models.BigIntegerField(primary_key=True)
    attempted_at = models.DateTimeField()
    delivery_id = models.BigIntegerField(db_index=True)
    endpoint_id = models.UUIDField()
    client_id = models.IntegerField()
    attempt = models.PositiveIntegerField()
    status_code = models.IntegerField(null=True, blank=True)
    latency_ms = models.IntegerField()
    error = models.TextField(blank=True, default="")
    response_body = models.TextField(blank=True, default="")
    signature = models.TextField(help_text="webhook-signature header sent (never the secret)")
    outcome = models.CharField(max_length=16)

    class Meta:
        managed = False
        db_table = "webhook_logs"
        ordering = ["-attempted_at"]

    def __str__(self) -> str:
        return f"attempt {self.attempt} of delivery {self.delivery_id}: {self.status_code or self.error[:40]}"


class WebhookAlert(models.Model):
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="alerts")
    client_code = models.CharField(max_length=64)
    kind = models.CharField(max_length=32)
    message = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        db_table = "webhook_alerts"
        indexes = [models.Index(fields=["acknowledged_at", "-created_at"], name="webhook_alert_open")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message[:60]}"
