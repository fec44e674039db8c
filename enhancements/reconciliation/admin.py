"""Operator screens: profiles, rules, file import, runs and the mismatch workflow."""

from __future__ import annotations

import datetime as dt
import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from integrations.settlement_files import ProfileError, SettlementFileError

from . import services
from .importing import profile_of
from .models import (
    MappingProfileRecord,
    Mismatch,
    MismatchEvent,
    QuarantinedRow,
    ReconciliationRule,
    ReconciliationRun,
    SettlementFile,
)


class MappingProfileForm(forms.ModelForm):
    class Meta:
        model = MappingProfileRecord
        fields = "__all__"

    def clean(self):
        data = super().clean()
        try:
            profile_of(MappingProfileRecord(**{k: v for k, v in data.items() if k != "id"}))
        except (ProfileError, TypeError) as exc:
            raise ValidationError(str(exc)) from exc
        return data


@admin.register(MappingProfileRecord)
class MappingProfileAdmin(admin.ModelAdmin):
    form = MappingProfileForm
    list_display = ("name", "source", "file_format", "amount_unit", "fee_includes_gst")


@admin.register(ReconciliationRule)
class ReconciliationRuleAdmin(admin.ModelAdmin):
    list_display = ("priority", "name", "kind", "reference", "amount_tolerance_abs", "amount_tolerance_pct",
                    "date_drift_days", "sources", "payment_modes", "active")  # fmt: skip
    list_editable = ("active",)
    ordering = ("priority",)


class ImportForm(forms.Form):
    file = forms.FileField()
    profile = forms.ModelChoiceField(queryset=MappingProfileRecord.objects.order_by("name"))
    bad_rows = forms.ChoiceField(choices=SettlementFile.BadRows.choices, initial=SettlementFile.BadRows.QUARANTINE)


class QuarantinedInline(admin.TabularInline):
    model = QuarantinedRow
    fields = ("line_no", "errors", "raw")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False


@admin.register(SettlementFile)
class SettlementFileAdmin(admin.ModelAdmin):
    list_display = ("id", "original_name", "source", "status", "rows_imported", "rows_quarantined", "uploaded_by",
                    "uploaded_at", "first_date", "last_date")  # fmt: skip
    list_filter = ("status", "source")
    readonly_fields = [f.name for f in SettlementFile._meta.fields]
    inlines = [QuarantinedInline]
    actions = ["reconcile", "dry_run"]
    change_list_template = "admin/reconciliation/settlementfile/change_list.html"

    def has_add_permission(self, request):
        return False

    def get_urls(self):
        return [path("import/", self.admin_site.admin_view(self.import_view), name="reconciliation_import")] + super().get_urls()

    def import_view(self, request):
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                record = services.settlement_file_import(
                    stream=upload.file, original_name=upload.name, profile=form.cleaned_data["profile"],
                    uploaded_by=request.user, bad_rows=form.cleaned_data["bad_rows"],
                )  # fmt: skip
            except services.RejectedFileError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return redirect(reverse("admin:reconciliation_settlementfile_change", args=[exc.record.pk]))
            except (services.DuplicateFileError, SettlementFileError) as exc:
                form.add_error("file", str(exc))
            else:
                self.message_user(request, f"Imported {record.rows_imported:,} rows; {record.rows_quarantined:,} quarantined.")
                return redirect(reverse("admin:reconciliation_settlementfile_change", args=[record.pk]))
        context = {**self.admin_site.each_context(request), "form": form, "title": "Import a settlement file",
                   "opts": self.model._meta}  # fmt: skip
        return render(request, "admin/reconciliation/import.html", context)

    def _run(self, request, queryset, dry_run: bool):
        for file in queryset:
            try:
                run = services.reconciliation_run_create(file=file, started_by=request.user, dry_run=dry_run)
                run = services.reconciliation_run_execute(run=run)
            except services.ReconciliationError as exc:
                self.message_user(request, f"{file}: {exc}", messages.ERROR)
                continue
            s = run.summary
            self.message_user(request, f"{file}: matched {s['matched_lines']:,} lines ({s['matched_amount']}), "
                                       f"match rate {s['match_rate']:.2%}{' (dry run)' if dry_run else ''}")  # fmt: skip

    @admin.action(description="Reconcile the selected files")
    def reconcile(self, request, queryset):
        self._run(request, queryset, dry_run=False)

    @admin.action(description="Dry run: show what would match")
    def dry_run(self, request, queryset):
        self._run(request, queryset, dry_run=True)


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(admin.ModelAdmin):
    list_display = ("id", "file", "dry_run", "status", "matched", "match_rate", "started_by", "started_at", "attempts")
    list_filter = ("status", "dry_run")
    readonly_fields = ("file", "dry_run", "status", "started_by", "started_at", "finished_at", "attempts", "error",
                       "summary_table")  # fmt: skip
    exclude = ("summary",)
    actions = ["rerun"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="matched lines")
    def matched(self, obj):
        return obj.summary.get("matched_lines")

    @admin.display(description="match rate")
    def match_rate(self, obj):
        rate = obj.summary.get("match_rate")
        return f"{rate:.2%}" if rate is not None else "-"

    @admin.display(description="summary")
    def summary_table(self, obj):
        s = obj.summary or {}
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((t, v["count"], v["amount"]) for t, v in (s.get("mismatches") or {}).items()),
        )
        return format_html(
            "<p>Matched {} lines / {} transactions, amount {}; match rate {}</p>"
            "<table><tr><th>type</th><th>count</th><th>amount</th></tr>{}</table><pre>{}</pre>",
            s.get("matched_lines"), s.get("matched_transactions"), s.get("matched_amount"), self.match_rate(obj),
            rows, json.dumps(s.get("pairs_by_rule", {}), indent=1),
        )  # fmt: skip

    @admin.action(description="Re-run (replaces this run's results)")
    def rerun(self, request, queryset):
        for run in queryset:
            try:
                services.reconciliation_run_execute(run=run)
            except services.ReconciliationError as exc:
                self.message_user(request, f"{run}: {exc}", messages.ERROR)
        self.message_user(request, "Re-run finished.")


class AgeFilter(admin.SimpleListFilter):
    title = "age"
    parameter_name = "age"
    BANDS = {"1d": (0, 1), "7d": (1, 7), "30d": (7, 30), "old": (30, None)}

    def lookups(self, request, model_admin):
        return [("1d", "under a day"), ("7d", "1-7 days"), ("30d", "7-30 days"), ("old", "over 30 days")]

    def queryset(self, request, queryset):
        if self.value() not in self.BANDS:
            return queryset
        low, high = self.BANDS[self.value()]
        now = timezone.now()
        queryset = queryset.filter(created_at__lte=now - dt.timedelta(days=low))
        return queryset.filter(created_at__gt=now - dt.timedelta(days=high)) if high else queryset


class AmountFilter(admin.SimpleListFilter):
    title = "amount"
    parameter_name = "amount_band"
    BANDS = {"small": (None, 1_000), "medium": (1_000, 100_000), "large": (100_000, None)}

    def lookups(self, request, model_admin):
        return [("small", "under ₹1,000"), ("medium", "₹1,000 - ₹1 lakh"), ("large", "over ₹1 lakh")]

    def queryset(self, request, queryset):
        if self.value() not in self.BANDS:
            return queryset
        low, high = self.BANDS[self.value()]
        q = Q()
        if low is not None:
            q &= Q(amount__gte=low)
        if high is not None:
            q &= Q(amount__lt=high)
        return queryset.filter(q)


class MismatchActionForm(ActionForm):
    reason = forms.ChoiceField(required=False, label="reason",
                               choices=[("", "---")] + [c for c in Mismatch.Resolution.choices if c[0] in services.OPERATOR_RESOLUTIONS])  # fmt: skip
    comment = forms.CharField(required=False, label="comment")


class HistoryInline(admin.TabularInline):
    model = MismatchEvent
    fields = ("at", "actor", "action", "comment", "changes")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False


@admin.register(Mismatch)
class MismatchAdmin(admin.ModelAdmin):
    list_display = ("id", "type", "txn_id", "line_no", "client_code", "amount", "state", "assigned_to", "resolution",
                    "created_at", "run")  # fmt: skip
    list_filter = ("state", "type", AgeFilter, AmountFilter, "resolution", "assigned_to")
    search_fields = ("txn_id", "client_code", "detail")
    readonly_fields = [f.name for f in Mismatch._meta.fields]
    inlines = [HistoryInline]
    action_form = MismatchActionForm
    actions = ["assign_to_me", "add_comment", "resolve", "reopen"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # history is kept: resolve instead

    def _ids(self, queryset):
        return list(queryset.values_list("pk", flat=True))

    @admin.action(description="Assign to me")
    def assign_to_me(self, request, queryset):
        n = services.mismatch_assign(mismatch_ids=self._ids(queryset), assignee=request.user, actor=request.user)
        self.message_user(request, f"Assigned {n} mismatches to you.")

    @admin.action(description="Add the comment to the selected")
    def add_comment(self, request, queryset):
        try:
            n = services.mismatch_comment(mismatch_ids=self._ids(queryset), actor=request.user,
                                          comment=request.POST.get("comment", ""))  # fmt: skip
        except ValueError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, f"Commented on {n} mismatches.")

    @admin.action(description="Resolve with the chosen reason")
    def resolve(self, request, queryset):
        try:
            n = services.mismatch_resolve(mismatch_ids=self._ids(queryset), actor=request.user,
                                          reason=request.POST.get("reason", ""), comment=request.POST.get("comment", ""))  # fmt: skip
        except ValueError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, f"Resolved {n} mismatches.")

    @admin.action(description="Reopen")
    def reopen(self, request, queryset):
        n = services.mismatch_reopen(mismatch_ids=self._ids(queryset), actor=request.user,
                                     comment=request.POST.get("comment", ""))  # fmt: skip
        self.message_user(request, f"Reopened {n} mismatches.")
