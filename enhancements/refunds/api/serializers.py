from __future__ import annotations

from rest_framework import serializers

from ..models import RefundRequest


class RefundCreateSerializer(serializers.Serializer):
    txn_id = serializers.CharField(required=False, max_length=64, help_text="the core's transaction id (sabpaisaTxnId)")
    client_txn_id = serializers.CharField(required=False, max_length=128, help_text="your own transaction reference")
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, coerce_to_string=True,
                                      help_text="rupees, e.g. \"150.00\"")  # fmt: skip
    reason = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")

    def validate(self, attrs):
        if not attrs.get("txn_id") and not attrs.get("client_txn_id"):
            raise serializers.ValidationError("give txn_id or client_txn_id")
        return attrs


class RefundSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="reference", read_only=True)
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, coerce_to_string=True)

    class Meta:
        model = RefundRequest
        fields = ["id", "txn_id", "client_txn_id", "amount", "reason", "state", "source", "rejection_rule",
                  "gateway_refund_id", "tat_deadline", "created_at", "updated_at", "resolved_at"]  # fmt: skip
        read_only_fields = fields


class RefusalSerializer(serializers.Serializer):
    rule = serializers.CharField()
    detail = serializers.CharField()
