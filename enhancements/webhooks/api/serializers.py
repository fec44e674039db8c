from rest_framework import serializers

from ..conf import MAX_TIMEOUT_S, MIN_TIMEOUT_S
from ..models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


class EndpointSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "description", "event_types", "is_active", "disabled_reason", "disabled_at", "timeout_s",
                  "rate_limit_per_s", "secret_rotated_at", "previous_secret_expires_at", "failing_since", "last_success_at",
                  "last_failure_at", "last_failure_reason", "created_at", "updated_at"]  # fmt: skip
        read_only_fields = fields


class EndpointWithSecretSerializer(EndpointSerializer):
    secret = serializers.CharField(help_text="Shown only in this response. Verify deliveries with it (Standard Webhooks).")

    class Meta(EndpointSerializer.Meta):
        fields = EndpointSerializer.Meta.fields + ["secret"]
        read_only_fields = fields


class EndpointWriteSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2000)
    event_types = serializers.ListField(child=serializers.CharField(max_length=64), allow_empty=False)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    timeout_s = serializers.FloatField(required=False, default=10.0, min_value=int(MIN_TIMEOUT_S), max_value=int(MAX_TIMEOUT_S))
    rate_limit_per_s = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1, max_value=10_000)


class EndpointUpdateSerializer(EndpointWriteSerializer):
    """Used with partial=True: only the fields sent are changed (defaults are not applied)."""

    is_active = serializers.BooleanField(required=False)


class RotateSecretSerializer(serializers.Serializer):
    grace_period_hours = serializers.FloatField(required=False, default=24.0, min_value=0, max_value=168)


class RecoverSerializer(serializers.Serializer):
    since = serializers.DateTimeField(help_text="Replay failed deliveries created since this time (at most 14 days back).")


class RecoverResultSerializer(serializers.Serializer):
    queued = serializers.IntegerField()


class DeliverySerializer(serializers.ModelSerializer):
    endpoint_id = serializers.UUIDField(read_only=True)
    replay_of_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = WebhookDelivery
        fields = ["id", "endpoint_id", "event_id", "event_type", "txn_id", "msg_id", "state", "attempts", "next_attempt_at",
                  "last_status_code", "last_error", "replay_of_id", "created_at", "finished_at"]  # fmt: skip
        read_only_fields = fields


class DeliveryDetailSerializer(DeliverySerializer):
    class Meta(DeliverySerializer.Meta):
        fields = DeliverySerializer.Meta.fields + ["body"]
        read_only_fields = fields


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["attempt", "attempted_at", "status_code", "latency_ms", "outcome", "error", "response_body", "signature"]
        read_only_fields = fields
