from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html

from ..models import Holiday, MerchantKyc, ReportLog, ReportStatus, Rule
from ..services import WorkflowError, audit_record, kyc_record_save, report_mark_submitted
from .cases import audit_trail_html


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    list_display = ("code", "enabled", "severity", "threshold_amount", "threshold_count", "threshold_ratio",
                    "window_minutes", "min_count", "source")
    list_editable = ("enabled", "severity", "threshold_amount", "threshold_count", "threshold_ratio", "window_minutes",
                     "min_count")
    readonly_fields = ("code", "updated_at")
    fields = ("code", "enabled", "severity", "threshold_amount", "threshold_count", "threshold_ratio", "window_minutes",
              "min_count", "params", "rationale", "source", "updated_at")

    def has_add_permission(self, request):
        return False  # one row per implemented rule, installed by migration

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_record(object_type="rule", object_id=obj.pk, action="configured", actor=request.user,
                     changes={f: str(form.cleaned_data.get(f)) for f in form.changed_data})


class KycForm(forms.ModelForm):
    class Meta:
        model = MerchantKyc
        fields = ("client_id", "client_code", "status", "risk_level", "document_refs", "last_review_on", "remarks")


@admin.register(MerchantKyc)
class MerchantKycAdmin(admin.ModelAdmin):
    form = KycForm
    list_display = ("client_code", "client_id", "status", "risk_level", "last_review_on", "next_review_due", "reviewer")
    list_filter = ("status", "risk_level")
    search_fields = ("client_code__exact", "=client_id")
    readonly_fields = ("reviewer", "next_review_due", "updated_at", "audit_trail")

    @admin.display(description="Audit trail")
    def audit_trail(self, obj):
        return audit_trail_html("kyc", obj.pk) if obj.pk else "-"

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        saved = kyc_record_save(client_id=data["client_id"], client_code=data["client_code"], actor=request.user,
                                status=data["status"], risk_level=data["risk_level"], document_refs=data["document_refs"],
                                reviewed_on=data.get("last_review_on"), remarks=data.get("remarks") or "")
        obj.pk = saved.pk

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Holiday)
class HolidayAdmin(admin.ModelAdmin):
    list_display = ("day", "name")
    date_hierarchy = "day"


class OverdueFilter(admin.SimpleListFilter):
    title = "deadline"
    parameter_name = "deadline"

    def lookups(self, request, model_admin):
        return [("overdue", "Overdue (not submitted, past due)"), ("due", "Due, not submitted")]

    def queryset(self, request, queryset):
        if self.value() == "overdue":
            return queryset.filter(status=ReportStatus.GENERATED, due_on__lt=timezone.localdate())
        if self.value() == "due":
            return queryset.filter(status=ReportStatus.GENERATED, due_on__isnull=False)
        return queryset


class ReportSubmitForm(forms.ModelForm):
    reference = forms.CharField(required=False, help_text="FIU-IND / RBI acknowledgement: marks the report submitted")

    class Meta:
        model = ReportLog
        fields: list[str] = []


@admin.register(ReportLog)
class ReportLogAdmin(admin.ModelAdmin):
    form = ReportSubmitForm
    list_display = ("report_type", "file_format", "period_start", "alert", "row_count", "status", "due_on", "deadline",
                    "generated_at", "generated_by", "submission_reference")
    list_filter = ("status", "report_type", OverdueFilter)
    readonly_fields = ("report_type", "file_format", "period_start", "period_end", "alert", "file_path", "row_count",
                       "sha256", "due_on", "deadline", "status", "generated_by", "generated_at", "submitted_by",
                       "submitted_at", "submission_reference", "audit_trail")  # fmt: skip
    date_hierarchy = "period_start"

    @admin.display(description="Deadline")
    def deadline(self, obj: ReportLog):
        if obj.status == ReportStatus.SUBMITTED or not obj.due_on:
            return "-"
        days = (obj.due_on - timezone.localdate()).days
        if days < 0:
            return format_html('<b style="color:#ba2121">overdue by {} day(s)</b>', -days)
        return f"{days} day(s) left"

    @admin.display(description="Audit trail")
    def audit_trail(self, obj):
        return audit_trail_html("report", obj.pk) if obj.pk else "-"

    def has_add_permission(self, request):
        return False  # reports are generated from data (beat / command), not typed in

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        reference = (form.cleaned_data.get("reference") or "").strip()
        if reference:
            try:
                report_mark_submitted(report_id=obj.pk, actor=request.user, reference=reference)
            except WorkflowError as exc:
                messages.error(request, str(exc))
