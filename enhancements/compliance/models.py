"""Compliance tables: rule configuration, alerts (cases), their notes and audit trail, merchant
KYC records, the report log and the holiday calendar used for the STR clock.

Core rows are referenced by id only (client_id, client_code, txn_id); no FKs into the core.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Severity(models.TextChoices):
    LOW = "LOW", "Low"
    MEDIUM = "MEDIUM", "Medium"
    HIGH = "HIGH", "High"
    CRITICAL = "CRITICAL", "Critical"


class RuleCode(models.TextChoices):
    HIGH_VALUE = "HIGH_VALUE", "High-value transaction"
    VELOCITY_PAYER = "VELOCITY_PAYER", "Velocity per payer"
    VELOCITY_MERCHANT = "VELOCITY_MERCHANT", "Velocity per merchant"
    STRUCTURING = "STRUCTURING", "Structuring below a reporting threshold"
    CROSS_BORDER = "CROSS_BORDER", "Cross-border transaction above Rs 5 lakh"
    CASH_MONTHLY = "CASH_MONTHLY", "Cash/challan monthly total above Rs 10 lakh"
    REFUND_RATIO = "REFUND_RATIO", "Refund ratio"
    CHARGEBACK_RATIO = "CHARGEBACK_RATIO", "Chargeback ratio"
    UNUSUAL_HOURS = "UNUSUAL_HOURS", "Unusual hours"
    VOLUME_SPIKE = "VOLUME_SPIKE", "Volume spike vs own baseline"
    MERCHANT_FLAGGED = "MERCHANT_FLAGGED", "Transactions for a disabled/unwhitelisted/inactive merchant"
    KYC_NOT_APPROVED = "KYC_NOT_APPROVED", "Transacting while KYC not approved"
    REKYC_DUE_SOON = "REKYC_DUE_SOON", "Re-KYC falls due soon"
    REKYC_DUE = "REKYC_DUE", "Re-KYC due or overdue"


class Rule(models.Model):
    """One configurable detection rule. Thresholds not used by a rule stay empty."""

    code = models.CharField(max_length=32, choices=RuleCode.choices, unique=True)
    enabled = models.BooleanField(default=True)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.MEDIUM)
    threshold_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True,
                                           help_text="Rupees; meaning depends on the rule (see rationale)")
    threshold_count = models.PositiveIntegerField(null=True, blank=True)
    threshold_ratio = models.DecimalField(max_digits=8, decimal_places=4, null=True, blank=True,
                                          help_text="A fraction (0.05 = 5%) or a multiple for spikes")
    window_minutes = models.PositiveIntegerField(null=True, blank=True)
    min_count = models.PositiveIntegerField(null=True, blank=True,
                                            help_text="Minimum transactions before a ratio rule applies")
    params = models.JSONField(default=dict, blank=True, help_text="Rule-specific extras (hours, baseline days)")
    rationale = models.TextField()
    source = models.CharField(max_length=300)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "compliance_rules"
        ordering = ["code"]

    def __str__(self) -> str:
        return self.get_code_display()


class AlertStatus(models.TextChoices):
    OPEN = "OPEN", "Open"
    UNDER_REVIEW = "UNDER_REVIEW", "Under review"
    ESCALATED = "ESCALATED", "Escalated"
    RESOLVED = "RESOLVED", "Resolved"
    STR_FILED = "STR_FILED", "STR filed"


OPEN_STATUSES = (AlertStatus.OPEN, AlertStatus.UNDER_REVIEW, AlertStatus.ESCALATED)


class Resolution(models.TextChoices):
    FALSE_POSITIVE = "FALSE_POSITIVE", "False positive"
    ACTION_TAKEN = "ACTION_TAKEN", "Action taken"


class EntityType(models.TextChoices):
    TRANSACTION = "TXN", "Transaction"
    MERCHANT = "MERCHANT", "Merchant"
    PAYER = "PAYER", "Payer"


class Alert(models.Model):
    """An alert and the case built on it.

    entity_key identifies what the rule fired on (txn id, client id, or a payer hash: payer
    identities are never stored in clear), window_key the window ('2026-11', a bucket start,
    or 'txn'). At most one open alert exists per (rule, entity, window).
    """

    rule_code = models.CharField(max_length=32, choices=RuleCode.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    entity_type = models.CharField(max_length=10, choices=EntityType.choices)
    entity_key = models.CharField(max_length=128)
    entity_display = models.CharField(max_length=200, blank=True, help_text="Masked where sensitive")
    window_key = models.CharField(max_length=40)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    client_id = models.IntegerField(null=True, db_index=True)
    client_code = models.CharField(max_length=64, blank=True)
    observed_amount = models.DecimalField(max_digits=16, decimal_places=2, null=True)
    observed_count = models.IntegerField(null=True)
    threshold = models.CharField(max_length=200, help_text="The threshold crossed, as configured then")
    evidence = models.JSONField(default=dict, help_text="txn_ids, amounts, figures behind the alert")
    status = models.CharField(max_length=16, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    resolution = models.CharField(max_length=16, choices=Resolution.choices, blank=True)
    # The user FKs here and on AuditEntry are indexed only where set (Meta.indexes): a scan
    # raises thousands of unassigned alerts, each of which would add a NULL entry to every FK index.
    assigned_to = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="compliance_alerts", db_index=False)
    str_decided_at = models.DateTimeField(null=True, blank=True)
    str_decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="+", db_index=False)
    str_due_on = models.DateField(null=True, blank=True)
    str_grounds = models.TextField(blank=True)
    str_filed_at = models.DateTimeField(null=True, blank=True)
    str_reference = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "compliance_alerts"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule_code", "entity_key", "window_key"],
                condition=Q(status__in=["OPEN", "UNDER_REVIEW", "ESCALATED"]),
                name="compliance_alert_one_open_per_window",
            ),
            models.CheckConstraint(
                condition=~Q(status="RESOLVED") | ~Q(resolution=""), name="compliance_alert_resolved_has_resolution"
            ),
            models.CheckConstraint(
                condition=~Q(status="STR_FILED") | (Q(str_decided_at__isnull=False) & ~Q(str_reference="")),
                name="compliance_alert_str_filed_has_reference",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "severity"]),
            models.Index(fields=["rule_code", "created_at"]),
            models.Index(fields=["str_due_on"], condition=Q(str_decided_at__isnull=False, str_filed_at__isnull=True),
                         name="compliance_alert_str_clock"),
            models.Index(fields=["assigned_to"], condition=Q(assigned_to__isnull=False), name="compliance_alert_assignee"),
            models.Index(fields=["str_decided_by"], condition=Q(str_decided_by__isnull=False),
                         name="compliance_alert_str_decider"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.rule_code} {self.entity_display or self.entity_key} [{self.status}]"


class CaseNote(models.Model):
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    attachment_refs = models.JSONField(default=list, blank=True,
                                       help_text="References to documents kept in the DMS (ids/URIs), not files")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "compliance_case_notes"
        ordering = ["created_at", "id"]


class AuditEntry(models.Model):
    """Append-only: who did what, when, to which compliance object, and what changed."""

    object_type = models.CharField(max_length=20)  # alert / kyc / report / rule
    object_id = models.BigIntegerField()
    action = models.CharField(max_length=40)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+", db_index=False)
    changes = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "compliance_audit_trail"
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["object_type", "object_id", "at"]),
            models.Index(fields=["actor"], condition=Q(actor__isnull=False), name="compliance_audit_actor"),
        ]


class KycStatus(models.TextChoices):
    PENDING = "PENDING", "Pending"
    UNDER_REVIEW = "UNDER_REVIEW", "Under review"
    APPROVED = "APPROVED", "Approved"
    REJECTED = "REJECTED", "Rejected"
    EXPIRED = "EXPIRED", "Expired"


class RiskLevel(models.TextChoices):
    LOW = "LOW", "Low"
    MEDIUM = "MEDIUM", "Medium"
    HIGH = "HIGH", "High"


class MerchantKyc(models.Model):
    client_id = models.IntegerField(unique=True)
    client_code = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=KycStatus.choices, default=KycStatus.PENDING)
    risk_level = models.CharField(max_length=8, choices=RiskLevel.choices, default=RiskLevel.MEDIUM)
    document_refs = models.JSONField(default=list, blank=True,
                                     help_text='[{"type": "PAN", "ref": "DMS-123"}, ...] references only')
    last_review_on = models.DateField(null=True, blank=True)
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+")
    next_review_due = models.DateField(null=True, blank=True, db_index=True)
    remarks = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "compliance_merchant_kyc"
        ordering = ["client_code"]
        verbose_name = "merchant KYC record"
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="APPROVED") | Q(last_review_on__isnull=False, next_review_due__isnull=False),
                name="compliance_kyc_approved_has_review_dates",
            )
        ]

    def __str__(self) -> str:
        return f"{self.client_code} KYC {self.status}"


class MerchantDailyVolume(models.Model):
    """Per-merchant daily totals kept by each scan: the baseline for the volume-spike rule
    (so a scan never has to re-read earlier months of the core)."""

    client_id = models.IntegerField()
    day = models.DateField()
    txn_count = models.IntegerField()
    amount = models.DecimalField(max_digits=16, decimal_places=2)

    class Meta:
        db_table = "compliance_merchant_daily"
        constraints = [models.UniqueConstraint(fields=["client_id", "day"], name="compliance_daily_one_per_day")]


class Holiday(models.Model):
    day = models.DateField(unique=True)
    name = models.CharField(max_length=100)

    class Meta:
        db_table = "compliance_holidays"
        ordering = ["day"]

    def __str__(self) -> str:
        return f"{self.day} {self.name}"


class ReportType(models.TextChoices):
    CTR = "CTR", "Cash Transaction Report"
    CBWTR = "CBWTR", "Cross-Border Wire Transfer Report"
    STR = "STR", "Suspicious Transaction Report"
    TAT = "TAT", "RBI TAT compliance"
    SUMMARY = "SUMMARY", "Monthly compliance summary"


class ReportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    JSON = "json", "JSON"
    XML = "xml", "XML"


class ReportStatus(models.TextChoices):
    GENERATED = "GENERATED", "Generated"
    SUBMITTED = "SUBMITTED", "Submitted"


class ReportLog(models.Model):
    report_type = models.CharField(max_length=10, choices=ReportType.choices)
    file_format = models.CharField(max_length=5, choices=ReportFormat.choices)
    period_start = models.DateField()
    period_end = models.DateField(help_text="Exclusive")
    alert = models.ForeignKey(Alert, null=True, blank=True, on_delete=models.PROTECT, related_name="reports")
    file_path = models.CharField(max_length=500)
    row_count = models.IntegerField()
    sha256 = models.CharField(max_length=64)
    due_on = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=ReportStatus.choices, default=ReportStatus.GENERATED)
    generated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+", help_text="Empty when generated by the scheduler")
    generated_at = models.DateTimeField(auto_now_add=True)
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+")
    submitted_at = models.DateTimeField(null=True, blank=True)
    submission_reference = models.CharField(max_length=100, blank=True)

    class Meta:
        db_table = "compliance_report_log"
        ordering = ["-generated_at", "-id"]
        indexes = [models.Index(fields=["report_type", "period_start"]), models.Index(fields=["status", "due_on"])]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="SUBMITTED") | (Q(submitted_at__isnull=False) & ~Q(submission_reference="")),
                name="compliance_report_submitted_has_reference",
            )
        ]

    def __str__(self) -> str:
        return f"{self.report_type} {self.period_start:%Y-%m} ({self.file_format})"
