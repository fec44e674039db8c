"""Operators: configuration history per merchant, approval queue, promotions, calculation
log search, reconciliations with their discrepancies. Every change goes through services."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from core_legacy.admin_pagination import CappedCountPaginator
from enhancements.regulatory.mdr import ZeroMdrViolation

from enhancements.platform.admin_mixins import ViewOnlyAdminMixin

from .models import ConfigStatus, FeeCalculationLog, FeeConfiguration, FeeDiscrepancy, FeeReconciliation, PromotionalFee
from .reconciliation import fee_discrepancy_resolve
from .services import FeeApprovalError, fee_configuration_approve, fee_configuration_propose, fee_configuration_reject
from .validation import FeeValidationError

TERMS = ("percent", "fixed_amount", "slabs", "tiers", "min_fee", "max_fee", "gst_rate")


@admin.register(FeeConfiguration)
class FeeConfigurationAdmin(admin.ModelAdmin):
    """History per merchant: filter by client id (search) and mode; newest version first.
    Approval queue: filter status = pending, then the approve / reject actions."""

    list_display = ("id", "client_id", "client_code", "payment_mode", "fee_type", "version", "structure", "percent",
                    "fixed_amount", "effective_from", "effective_until", "status", "created_by", "decided_by")  # fmt: skip
    list_filter = ("status", "payment_mode", "fee_type", "structure")
    search_fields = ("=client_id", "client_code")
    ordering = ("client_id", "payment_mode", "fee_type", "-version")
    actions = ["approve_selected", "reject_selected"]
    fields = ("client_id", "client_code", "payment_mode", "fee_type", "structure", *TERMS, "effective_from",
              "effective_until", "note", "version", "status", "created_by", "decided_by", "decided_at", "decision_note",
              "supersedes")  # fmt: skip
    readonly_fields = ("version", "status", "created_by", "decided_by", "decided_at", "decision_note", "supersedes")

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)  # versions are immutable

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        # A new version is always a proposal; the service validates (zero MDR, slabs...).
        data = form.cleaned_data
        try:
            created = fee_configuration_propose(
                created_by=request.user, client_id=data.get("client_id"), client_code=data.get("client_code") or "",
                payment_mode=data["payment_mode"], fee_type=data["fee_type"], structure=data["structure"],
                effective_from=data["effective_from"], effective_until=data.get("effective_until"),
                note=data.get("note") or "", **{k: data.get(k) for k in TERMS},
            )  # fmt: skip
        except (FeeValidationError, ZeroMdrViolation) as exc:
            raise ValidationError(str(exc)) from exc
        obj.pk = created.pk

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)

        class Checked(form):
            def clean(self):
                cleaned = super().clean()
                if self.errors:
                    return cleaned
                from .validation import validate_terms

                try:
                    validate_terms(payment_mode=cleaned.get("payment_mode"), fee_type=cleaned.get("fee_type"),
                                   structure=cleaned.get("structure"), **{k: cleaned.get(k) for k in TERMS})  # fmt: skip
                except FeeValidationError as exc:
                    raise ValidationError(str(exc)) from exc
                except ZeroMdrViolation as exc:
                    raise ValidationError(str(exc)) from exc
                return cleaned

        return Checked

    @admin.action(description="Approve selected pending versions (checker)")
    def approve_selected(self, request, queryset):
        for config in queryset.filter(status=ConfigStatus.PENDING):
            try:
                fee_configuration_approve(configuration_id=config.pk, approved_by=request.user)
                self.message_user(request, f"Approved {config}.")
            except FeeApprovalError as exc:
                self.message_user(request, f"{config}: {exc}", level=messages.ERROR)

    @admin.action(description="Reject selected pending versions (checker)")
    def reject_selected(self, request, queryset):
        for config in queryset.filter(status=ConfigStatus.PENDING):
            try:
                fee_configuration_reject(configuration_id=config.pk, rejected_by=request.user,
                                         reason=f"Rejected in the admin by {request.user}")  # fmt: skip
                self.message_user(request, f"Rejected {config}.")
            except FeeApprovalError as exc:
                self.message_user(request, f"{config}: {exc}", level=messages.ERROR)


@admin.register(PromotionalFee)
class PromotionalFeeAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "client_id", "discount_type", "discount_value", "max_discount", "valid_from",
                    "valid_until", "used_count", "usage_limit_total", "usage_limit_per_merchant", "active")  # fmt: skip
    list_filter = ("active", "discount_type")
    search_fields = ("name", "code", "=client_id")
    readonly_fields = ("used_count", "created_by")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
            obj.code = (obj.code or "").strip().upper()
        super().save_model(request, obj, form, change)


@admin.register(FeeCalculationLog)
class FeeCalculationLogAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    """Search by exact client id or txn id; the table is huge, so no full count. A txn id
    search uses the txn_id index; narrow a client id search by period (calculated_at filter:
    partition pruning + the BRIN), as the log keeps no client_id index (see docs/fees.md)."""

    list_display = ("calculated_at", "source", "client_id", "client_code", "payment_mode", "amount", "fee",
                    "discount", "gst", "total", "net_amount", "txn_id", "mdr_config_id", "promotion_id")  # fmt: skip
    list_filter = ("calculated_at", "source", "payment_mode", "is_quote")
    search_fields = ("=client_id", "=txn_id", "=client_code")
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    paginator = CappedCountPaginator


class DiscrepancyInline(admin.TabularInline):
    model = FeeDiscrepancy
    extra = 0
    can_delete = False
    fields = ("txn_id", "trans_date", "payment_mode", "amount", "charged_fee", "expected_fee", "charged_gst",
              "expected_gst", "reason", "resolution", "resolved_by", "resolution_note")  # fmt: skip
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(FeeReconciliation)
class FeeReconciliationAdmin(admin.ModelAdmin):
    list_display = ("client_id", "client_code", "period_start", "period_end", "status", "txn_count", "charged_fee",
                    "expected_fee", "fee_variance", "gst_variance", "discrepancy_count", "unconfigured_count",
                    "requested_by", "created_at")  # fmt: skip
    list_filter = ("status", "period_start")
    search_fields = ("=client_id", "client_code")
    inlines = [DiscrepancyInline]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(FeeDiscrepancy)
class FeeDiscrepancyAdmin(admin.ModelAdmin):
    list_display = ("txn_id", "client_id", "reason", "charged_fee", "expected_fee", "fee_variance", "gst_variance",
                    "resolution", "resolved_by")  # fmt: skip
    list_filter = ("resolution", "reason")
    search_fields = ("=txn_id", "=client_id")
    fields = ("reconciliation", "txn_id", "trans_date", "payment_mode", "amount", "charged_fee", "expected_fee",
              "charged_gst", "expected_gst", "reason", "resolution", "resolution_note", "resolved_by", "resolved_at")  # fmt: skip

    def get_readonly_fields(self, request, obj=None):
        editable = {"resolution", "resolution_note"} if obj is not None and obj.resolution == "open" else set()
        return [f for f in self.fields if f not in editable]

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        try:
            fee_discrepancy_resolve(discrepancy_id=obj.pk, resolution=form.cleaned_data["resolution"],
                                    note=form.cleaned_data["resolution_note"], resolved_by=request.user)  # fmt: skip
        except FeeValidationError as exc:
            self.message_user(request, str(exc), level=messages.ERROR)
