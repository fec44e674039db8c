"""Operator screens: approver queues, one-click decisions, batch upload with preview, timeline, TAT report.

Every button calls a service, so maker-checker and the state machine apply exactly as
in the API; a refusal is shown as an error message, and nothing is half-applied.
"""

from __future__ import annotations

import csv

from django.contrib import admin, messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from enhancements.platform.admin_mixins import ViewOnlyAdminMixin

from . import batches, services
from .admin_forms import BatchUploadForm, DecisionForm, RaiseRefundForm
from .callbacks import callback_process
from .errors import RefundError
from .models import InboundCallback, RefundApprovalWorkflow, RefundBatch, RefundBatchItem, RefundRequest, RefundSource
from .selectors import approver_levels, batches_waiting_for, refunds_waiting_for, tat_breaches


class WaitingForMeFilter(admin.SimpleListFilter):
    title = "queue"
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        levels = ", ".join(approver_levels(request.user)) or "none"
        return [("me", f"Waiting for me (levels: {levels})")]

    def queryset(self, request, queryset):
        if self.value() != "me":
            return queryset
        waiting = (refunds_waiting_for if queryset.model is RefundRequest else batches_waiting_for)(request.user)
        return queryset.filter(pk__in=waiting.values("pk"))


class TimelineInline(admin.TabularInline):
    model = RefundApprovalWorkflow
    fk_name = "refund"
    extra = 0
    can_delete = False
    verbose_name_plural = "Timeline"
    fields = readonly_fields = ("created_at", "action", "from_state", "to_state", "level", "actor_label", "comment")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class BatchTimelineInline(TimelineInline):
    fk_name = "batch"


class _NoRawEdits:
    """State changes go through the buttons (services), never a raw edit or delete."""

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class _DecisionsMixin(_NoRawEdits):
    """A POST-only `<pk>/decide/` URL behind the buttons of the change page."""

    decide_url_name = ""

    def decide_view(self, request, object_id):
        obj = get_object_or_404(self.model, pk=object_id)
        form = DecisionForm(request.POST or None)
        if request.method != "POST" or not form.is_valid():
            self.message_user(request, "Choose an action.", messages.ERROR)
        else:
            try:
                self.decide(request, obj, form.cleaned_data["action"], form.cleaned_data["comment"])
                obj.refresh_from_db()
                self.message_user(request, f"{obj}: {form.cleaned_data['action']} done.", messages.SUCCESS)
            except RefundError as exc:
                self.message_user(request, f"Refused: {exc}", messages.ERROR)
        return HttpResponseRedirect(reverse(f"admin:refunds_{self.model._meta.model_name}_change", args=[obj.pk]))


@admin.register(RefundRequest)
class RefundRequestAdmin(_DecisionsMixin, admin.ModelAdmin):
    list_display = ("id", "txn_id", "client_code", "amount", "state", "awaiting", "source", "raised_by_label",
                    "tat_deadline", "created_at")  # fmt: skip
    list_filter = (WaitingForMeFilter, "state", "source", "tat_channel")
    search_fields = ("txn_id__exact", "client_txn_id__exact", "client_code__exact", "reference__exact")
    readonly_fields = [f.name for f in RefundRequest._meta.fields]
    inlines = [TimelineInline]
    show_full_result_count = False
    change_form_template = "admin/refunds/decisions_change_form.html"
    change_list_template = "admin/refunds/refundrequest_change_list.html"

    @admin.display(description="awaiting")
    def awaiting(self, obj):
        return obj.next_level if obj.state == "PENDING_APPROVAL" else "-"

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:object_id>/decide/", wrap(self.decide_view), name="refunds_refundrequest_decide"),
            path("tat-report/", wrap(self.tat_report_view), name="refunds_refundrequest_tat_report"),
            *super().get_urls(),
        ]

    def decide(self, request, refund, action, comment):
        if action == "approve":
            services.refund_approve(refund_id=refund.pk, actor=request.user, comment=comment)
        elif action == "reject":
            services.refund_reject(refund_id=refund.pk, actor=request.user, reason=comment)
        elif action == "return":
            services.refund_return(refund_id=refund.pk, actor=request.user, comment=comment)
        elif action == "cancel":
            services.refund_cancel(refund_id=refund.pk, actor=request.user, comment=comment)
        else:
            raise RefundError(f"{action} is not an action on a refund")

    def add_view(self, request, form_url="", extra_context=None):
        form = RaiseRefundForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            d = form.cleaned_data
            try:
                refund = services.refund_create(amount=d["amount"], source=RefundSource.OPERATOR, reason=d["reason"],
                                                txn_id=d["txn_id"] or None, client_code=d["client_code"] or None,
                                                client_txn_id=d["client_txn_id"] or None, actor=request.user)  # fmt: skip
            except RefundError as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, f"{refund} raised; it waits for {refund.next_level}.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:refunds_refundrequest_change", args=[refund.pk]))
        context = {**self.admin_site.each_context(request), "title": "Raise a refund", "form": form, "opts": self.model._meta}
        return TemplateResponse(request, "admin/refunds/form_page.html", context)

    def tat_report_view(self, request):
        breaches = tat_breaches(client_code=request.GET.get("client_code") or None)
        if request.GET.get("format") == "csv":
            response = HttpResponse(content_type="text/csv")
            response["Content-Disposition"] = 'attachment; filename="refund-tat-breaches.csv"'
            writer = csv.writer(response)
            writer.writerow(["refund_id", "txn_id", "client_code", "amount", "state", "channel", "requested_on", "deadline",
                             "resolved_on", "days_late", "compensation_due"])  # fmt: skip
            for b in breaches:
                writer.writerow([b.refund_id, b.txn_id, b.client_code, b.amount, b.state, b.channel, b.requested_on,
                                 b.deadline, b.resolved_on or "", b.days_late, b.compensation_due])  # fmt: skip
            return response
        context = {**self.admin_site.each_context(request), "title": "Refund TAT breaches (RBI, Rs 100/day)",
                   "breaches": breaches, "total": sum((b.compensation_due for b in breaches), 0), "opts": self.model._meta}  # fmt: skip
        return TemplateResponse(request, "admin/refunds/tat_report.html", context)


@admin.register(RefundBatch)
class RefundBatchAdmin(_DecisionsMixin, admin.ModelAdmin):
    list_display = ("id", "file_name", "state", "total_rows", "accepted_rows", "rejected_rows", "accepted_amount",
                    "uploaded_by", "created_at")  # fmt: skip
    list_filter = (WaitingForMeFilter, "state")
    readonly_fields = [f.name for f in RefundBatch._meta.fields]
    inlines = [BatchTimelineInline]
    change_form_template = "admin/refunds/decisions_change_form.html"

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [path("<int:object_id>/decide/", wrap(self.decide_view), name="refunds_refundbatch_decide"), *super().get_urls()]

    def decide(self, request, batch, action, comment):
        if action == "submit":
            batches.batch_submit(batch_id=batch.pk, actor=request.user, all_or_nothing=comment.strip() == "all-or-nothing")
        elif action == "approve":
            batches.batch_approve(batch_id=batch.pk, actor=request.user, comment=comment)
        elif action in ("reject", "cancel"):
            batches.batch_reject(batch_id=batch.pk, actor=request.user, reason=comment, cancel=action == "cancel")
        else:
            raise RefundError(f"{action} is not an action on a batch")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        batch = get_object_or_404(RefundBatch, pk=object_id)
        preview = {
            "rejected": list(batch.items.filter(verdict="REJECTED").order_by("row_number")[:500]),
            "accepted": list(batch.items.filter(verdict="ACCEPTED").order_by("row_number")[:200]),
            "items_url": reverse("admin:refunds_refundbatchitem_changelist") + f"?batch__id__exact={batch.pk}",
        }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "preview": preview})

    def add_view(self, request, form_url="", extra_context=None):
        form = BatchUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                batch = batches.batch_upload(file_name=upload.name, data=upload.read(), actor=request.user)
            except RefundError as exc:
                form.add_error("file", str(exc))
            else:
                self.message_user(request, f"{batch}: {batch.accepted_rows} rows accepted, {batch.rejected_rows} rejected. "
                                  "Check the preview, then submit.", messages.INFO)  # fmt: skip
                return HttpResponseRedirect(reverse("admin:refunds_refundbatch_change", args=[batch.pk]))
        context = {**self.admin_site.each_context(request), "title": "Upload a refund batch", "form": form,
                   "opts": self.model._meta, "multipart": True}  # fmt: skip
        return TemplateResponse(request, "admin/refunds/form_page.html", context)


@admin.register(RefundBatchItem)
class RefundBatchItemAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("batch", "row_number", "txn_id", "client_txn_id", "amount", "verdict", "rule", "message", "refund_state")
    list_filter = ("verdict", "rule")
    search_fields = ("txn_id__exact", "client_txn_id__exact")
    list_select_related = ("refund",)
    show_full_result_count = False

    @admin.display(description="refund")
    def refund_state(self, obj):
        if obj.refund_id is None:
            return "-"
        url = reverse("admin:refunds_refundrequest_change", args=[obj.refund_id])
        return format_html('<a href="{}">{}</a>', url, obj.refund.state)



@admin.register(InboundCallback)
class InboundCallbackAdmin(admin.ModelAdmin):
    list_display = ("id", "received_at", "source", "event_type", "event_id", "status", "signature_valid", "refund", "attempts")
    list_filter = ("status", "event_type", "source", "signature_valid")
    search_fields = ("event_id__exact",)
    readonly_fields = [f.name for f in InboundCallback._meta.fields]
    actions = ["reprocess"]
    show_full_result_count = False

    @admin.action(description="Re-process selected callbacks", permissions=["change"])
    def reprocess(self, request, queryset):
        outcomes: dict[str, int] = {}
        for pk in queryset.values_list("pk", flat=True):
            status = callback_process(callback_id=pk).status
            outcomes[status] = outcomes.get(status, 0) + 1
        self.message_user(request, "Re-processed: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
