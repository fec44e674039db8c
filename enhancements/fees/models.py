"""Fee configuration (versioned, maker-checker), promotions, calculation log, reconciliation.

Slabs and volume tiers live inside their configuration version as JSON: a version is
immutable once proposed, so its bands are part of it (no child rows to keep in step).
The no-overlap rule for approved versions is a PostgreSQL exclusion constraint created in
migration 0002 (see there for why it needs no btree_gist).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

# The core's payment_mode names (core_legacy/seeding/generator.py PAYMENT_MODES).
PAYMENT_MODES = (
    "UPI", "Debit Card", "RuPay Debit Card", "Credit Card", "Net Banking", "Wallet", "Challan", "International Card",
)  # fmt: skip
PAYMENT_MODE_CHOICES = [(m, m) for m in PAYMENT_MODES]


class FeeType(models.TextChoices):
    MDR = "mdr", "Merchant discount rate"
    PLATFORM = "platform", "Platform fee"


class Structure(models.TextChoices):
    FLAT = "flat", "Flat amount"
    PERCENTAGE = "percentage", "Percentage"
    PERCENTAGE_FIXED = "percentage_fixed", "Percentage + fixed"
    SLAB = "slab", "Slabs by amount"
    VOLUME_TIER = "volume_tier", "Tiers by monthly volume"


class ConfigStatus(models.TextChoices):
    PENDING = "pending", "Pending approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"


class FeeConfiguration(models.Model):
    # NULL client_id: the default configuration for merchants that have none for the mode.
    client_id = models.IntegerField(null=True, blank=True, db_index=True)
    client_code = models.CharField(max_length=64, blank=True, default="")
    payment_mode = models.CharField(max_length=32, choices=PAYMENT_MODE_CHOICES)
    fee_type = models.CharField(max_length=16, choices=FeeType.choices, default=FeeType.MDR)
    version = models.PositiveIntegerField()
    structure = models.CharField(max_length=20, choices=Structure.choices)
    percent = models.DecimalField(max_digits=7, decimal_places=4, default=Decimal("0"))
    fixed_amount = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    # [{"lower": "0.00", "lower_inclusive": true, "upper": "1000.00" | null, "upper_inclusive": false,
    #   "percent": "1.5", "fixed": "0.00"}, ...] ascending, contiguous, from 0 to open end.
    slabs = models.JSONField(default=list, blank=True)
    # [{"min_volume": "0.00", "percent": "2.0", "fixed": "0.00"}, ...] ascending from 0; the tier
    # is chosen by the merchant's successful volume in the previous calendar month (India time).
    tiers = models.JSONField(default=list, blank=True)
    min_fee = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    max_fee = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    gst_rate = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("18.00"))
    effective_from = models.DateTimeField()
    effective_until = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=ConfigStatus.choices, default=ConfigStatus.PENDING)
    note = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True, default="")
    # The approved version whose effective_until this one's approval set (the only change
    # ever made to an approved version: closing its open end).
    supersedes = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        db_table = "fee_configuration"
        ordering = ["client_id", "payment_mode", "fee_type", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["client_id", "payment_mode", "fee_type", "version"], nulls_distinct=False,
                name="fee_configuration_version_unique",
            ),
            models.CheckConstraint(
                condition=Q(effective_until__isnull=True) | Q(effective_until__gt=models.F("effective_from")),
                name="fee_configuration_period_valid",
            ),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=models.F("created_by")),
                name="fee_configuration_maker_is_not_checker",
            ),
            models.CheckConstraint(
                condition=Q(min_fee__isnull=True) | Q(max_fee__isnull=True) | Q(min_fee__lte=models.F("max_fee")),
                name="fee_configuration_caps_ordered",
            ),
        ]  # fmt: skip
        indexes = [models.Index(fields=["status", "created_at"], name="fee_configuration_queue_idx")]

    def __str__(self) -> str:
        who = self.client_code or (f"client {self.client_id}" if self.client_id is not None else "default")
        return f"{who} {self.payment_mode} {self.fee_type} v{self.version} ({self.status})"


class DiscountType(models.TextChoices):
    PERCENT = "percent", "Percent of the fee"
    FLAT = "flat", "Flat amount off the fee"


class PromotionalFee(models.Model):
    name = models.CharField(max_length=120)
    # Blank code: automatic (applies without a code); otherwise the merchant quotes the code.
    code = models.CharField(max_length=40, blank=True, default="")
    client_id = models.IntegerField(null=True, blank=True, help_text="Only this merchant; empty: every merchant")
    discount_type = models.CharField(max_length=10, choices=DiscountType.choices)
    discount_value = models.DecimalField(max_digits=12, decimal_places=2)
    max_discount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    min_amount = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    payment_modes = models.JSONField(default=list, blank=True, help_text="Empty: every mode")
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    usage_limit_total = models.PositiveIntegerField(null=True, blank=True)
    usage_limit_per_merchant = models.PositiveIntegerField(null=True, blank=True)
    used_count = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "promotional_fees"
        constraints = [
            models.UniqueConstraint(fields=["code"], condition=~Q(code=""), name="promotional_fees_code_unique"),
            models.CheckConstraint(condition=Q(valid_until__gt=models.F("valid_from")), name="promotional_fees_window"),
            models.CheckConstraint(
                condition=Q(usage_limit_total__isnull=True) | Q(used_count__lte=models.F("usage_limit_total")),
                name="promotional_fees_within_limit",
            ),
            models.CheckConstraint(condition=Q(discount_value__gt=0), name="promotional_fees_discount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code or 'automatic'})"


class PromotionalFeeUsage(models.Model):
    promotion = models.ForeignKey(PromotionalFee, on_delete=models.CASCADE, related_name="usages")
    client_id = models.IntegerField()
    used_count = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "promotional_fee_usage"
        constraints = [models.UniqueConstraint(fields=["promotion", "client_id"], name="promotional_fee_usage_unique")]


class FeeCalculationLog(models.Model):
    """One row per fee calculation. Partitioned by month on calculated_at (migration 0002
    creates the table with RunSQL; this model only reads and writes it, managed=False)."""

    id = models.BigIntegerField(primary_key=True)
    calculated_at = models.DateTimeField()
    source = models.CharField(max_length=16)  # api / service / bulk
    is_quote = models.BooleanField(default=False)
    client_id = models.IntegerField()
    client_code = models.CharField(max_length=64)
    payment_mode = models.CharField(max_length=32)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    transaction_at = models.DateTimeField()
    txn_id = models.TextField(null=True)
    monthly_volume = models.DecimalField(max_digits=16, decimal_places=2, null=True)
    mdr_config_id = models.BigIntegerField(null=True)
    mdr_fee = models.DecimalField(max_digits=14, decimal_places=2)
    mdr_band = models.IntegerField(null=True)
    platform_config_id = models.BigIntegerField(null=True)
    platform_fee = models.DecimalField(max_digits=14, decimal_places=2)
    platform_band = models.IntegerField(null=True)
    promotion_id = models.BigIntegerField(null=True)
    discount = models.DecimalField(max_digits=14, decimal_places=2)
    fee = models.DecimalField(max_digits=14, decimal_places=2)
    gst = models.DecimalField(max_digits=14, decimal_places=2)
    total = models.DecimalField(max_digits=14, decimal_places=2)
    net_amount = models.DecimalField(max_digits=14, decimal_places=2)
    breakdown = models.JSONField(null=True)

    class Meta:
        managed = False
        db_table = "fee_calculation_log"
        ordering = ["-calculated_at", "-id"]


class ReconciliationStatus(models.TextChoices):
    OPEN = "open", "Has open discrepancies"
    CLEAN = "clean", "No discrepancies"
    RESOLVED = "resolved", "All discrepancies resolved"


class FeeReconciliation(models.Model):
    run_id = models.UUIDField(db_index=True)  # one on-demand or monthly run covers many merchants
    client_id = models.IntegerField()
    client_code = models.CharField(max_length=64, blank=True, default="")
    period_start = models.DateField()  # India calendar dates, end exclusive
    period_end = models.DateField()
    status = models.CharField(max_length=16, choices=ReconciliationStatus.choices)
    txn_count = models.IntegerField()
    charged_fee = models.DecimalField(max_digits=16, decimal_places=2)
    charged_gst = models.DecimalField(max_digits=16, decimal_places=2)
    expected_fee = models.DecimalField(max_digits=16, decimal_places=2)
    expected_gst = models.DecimalField(max_digits=16, decimal_places=2)
    fee_variance = models.DecimalField(max_digits=16, decimal_places=2)  # charged - expected
    gst_variance = models.DecimalField(max_digits=16, decimal_places=2)
    discrepancy_count = models.IntegerField()
    unconfigured_count = models.IntegerField()
    requested_by = models.CharField(max_length=150)  # operator username or "beat"
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "fee_reconciliation"
        ordering = ["-period_start", "client_id", "-id"]
        indexes = [models.Index(fields=["client_id", "period_start"], name="fee_reconciliation_client_idx")]

    def __str__(self) -> str:
        return f"{self.client_code or self.client_id} {self.period_start}..{self.period_end}"


class DiscrepancyReason(models.TextChoices):
    FEE_MISMATCH = "fee_mismatch", "Fee differs from configuration"
    GST_MISMATCH = "gst_mismatch", "GST differs from configuration"
    NO_CONFIGURATION = "no_configuration", "No configuration covers the transaction"


class Resolution(models.TextChoices):
    OPEN = "open", "Open"
    ACCEPTED = "accepted", "Accepted as charged"
    ADJUSTMENT = "adjustment", "Adjustment raised with the core"
    WRITTEN_OFF = "written_off", "Written off"


class FeeDiscrepancy(models.Model):
    reconciliation = models.ForeignKey(FeeReconciliation, on_delete=models.CASCADE, related_name="discrepancies")
    client_id = models.IntegerField()
    txn_id = models.TextField()
    trans_date = models.DateTimeField()
    payment_mode = models.CharField(max_length=32, blank=True, default="")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    charged_fee = models.DecimalField(max_digits=14, decimal_places=2)
    charged_gst = models.DecimalField(max_digits=14, decimal_places=2)
    expected_fee = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    expected_gst = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    fee_variance = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    gst_variance = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    reason = models.CharField(max_length=20, choices=DiscrepancyReason.choices)
    mdr_config_id = models.BigIntegerField(null=True)
    resolution = models.CharField(max_length=16, choices=Resolution.choices, default=Resolution.OPEN)
    resolution_note = models.TextField(blank=True, default="")
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "fee_reconciliation_discrepancy"
        ordering = ["reconciliation", "trans_date", "txn_id"]
        indexes = [models.Index(fields=["reconciliation", "resolution"], name="fee_discrepancy_open_idx")]
