from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from ..models import PAYMENT_MODES, FeeConfiguration, FeeType, Structure


class CalculateRequest(serializers.Serializer):
    payment_mode = serializers.ChoiceField(choices=PAYMENT_MODES)
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    at = serializers.DateTimeField(required=False, help_text="Transaction time (ISO 8601 with offset); default now")
    txn_id = serializers.CharField(required=False, allow_blank=True, max_length=64)
    promo_code = serializers.CharField(required=False, allow_blank=True, max_length=40)
    quote = serializers.BooleanField(required=False, default=False, help_text="A quote consumes no promotion usage")


class ComponentSerializer(serializers.Serializer):
    fee_type = serializers.CharField()
    scope = serializers.CharField()
    config_id = serializers.IntegerField(allow_null=True)
    version = serializers.IntegerField(allow_null=True)
    structure = serializers.CharField(allow_null=True)
    band = serializers.IntegerField(allow_null=True)
    percent = serializers.CharField()
    fixed = serializers.CharField()
    fee = serializers.CharField()
    gst_rate = serializers.CharField()
    gst = serializers.CharField()


class CalculateResponse(serializers.Serializer):
    calculation_id = serializers.IntegerField()
    payment_mode = serializers.CharField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    fee = serializers.DecimalField(max_digits=14, decimal_places=2)
    discount = serializers.DecimalField(max_digits=14, decimal_places=2)
    gst = serializers.DecimalField(max_digits=14, decimal_places=2)
    total = serializers.DecimalField(max_digits=14, decimal_places=2)
    net_amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    components = ComponentSerializer(many=True)
    promotion = serializers.DictField(allow_null=True)


class ConfigurationSerializer(serializers.ModelSerializer):
    scope = serializers.SerializerMethodField()

    class Meta:
        model = FeeConfiguration
        fields = ["id", "scope", "payment_mode", "fee_type", "version", "structure", "percent", "fixed_amount", "slabs",
                  "tiers", "min_fee", "max_fee", "gst_rate", "effective_from", "effective_until"]  # fmt: skip

    def get_scope(self, obj) -> str:
        return "merchant" if obj.client_id is not None else "default"


class PreviewRequest(serializers.Serializer):
    payment_mode = serializers.ChoiceField(choices=PAYMENT_MODES)
    fee_type = serializers.ChoiceField(choices=FeeType.values, default=FeeType.MDR)
    structure = serializers.ChoiceField(choices=Structure.values)
    percent = serializers.CharField(required=False, default="0")
    fixed_amount = serializers.CharField(required=False, default="0")
    slabs = serializers.ListField(child=serializers.DictField(), required=False, default=list)
    tiers = serializers.ListField(child=serializers.DictField(), required=False, default=list)
    min_fee = serializers.CharField(required=False, allow_null=True, default=None)
    max_fee = serializers.CharField(required=False, allow_null=True, default=None)
    gst_rate = serializers.CharField(required=False, default="18.00")
