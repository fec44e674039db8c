"""Operator admin: endpoints with health, deliveries (search by merchant/event/txn) with
replay, recover, open alerts, templates, and the attempt log (read-only)."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.shortcuts import render
from django.utils import timezone

from enhancements.platform.admin_mixins import ViewOnlyAdminMixin

from . import selectors, services
from .models import WebhookAlert, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookTemplate


class OpenAlertInline(admin.TabularInline):
    model = WebhookAlert
    extra = 0
    can_delete = False
    fields = readonly_fields = ("created_at", "kind", "message", "acknowledged_at", "acknowledged_by")

    def has_add_permission(self, request, obj=None):
        return False


class RecoverForm(forms.Form):
    since = forms.DateTimeField(help_text="Replay failed deliveries created since this time (at most 14 days back).")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ("client_code", "url", "is_active", "success_rate_24h", "last_success_at", "last_failure_at",
                    "last_failure_reason", "disabled_reason")  # fmt: skip
    list_filter = ("is_active",)
    search_fields = ("client_code__exact", "url")
    readonly_fields = ("id", "client_id", "client_code", "secret_rotated_at", "previous_secret_expires_at", "failing_since",
                       "last_success_at", "last_failure_at", "last_failure_reason", "disabled_reason", "disabled_at",
                       "created_at", "updated_at", "success_rate_24h")  # fmt: skip
    fields = ("id", "client_id", "client_code", "url", "description", "event_types", "timeout_s", "rate_limit_per_s",
              "is_active") + readonly_fields[3:]  # fmt: skip
    inlines = [OpenAlertInline]
    actions = ["enable", "disable", "recover_action"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_queryset(self, request):
        return super().get_queryset(request).defer("secret_encrypted", "previous_secret_encrypted")

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        try:
            endpoints = list(response.context_data["cl"].result_list)
            self._health = selectors.endpoint_health(endpoint_ids=[e.pk for e in endpoints])
        except (AttributeError, KeyError, TypeError):
            pass
        return response

    @admin.display(description="success rate (24 h)")
    def success_rate_24h(self, obj):
        health = getattr(self, "_health", None)
        if health is None or obj.pk not in health:
            health = selectors.endpoint_health(endpoint_ids=[obj.pk])
        h = health[obj.pk]
        return "no attempts" if h["success_rate"] is None else f"{h['success_rate']:.1%} of {h['attempts']}"

    def has_add_permission(self, request):
        return False  # merchants create endpoints through the API (the secret is shown to them once)

    def save_model(self, request, obj, form, change):
        try:
            services.endpoint_update(endpoint=obj, url=obj.url, event_types=obj.event_types, description=obj.description,
                                     timeout_s=obj.timeout_s, rate_limit_per_s=obj.rate_limit_per_s,
                                     is_active=obj.is_active)  # fmt: skip
        except ValidationError as exc:
            self.message_user(request, f"Not saved: {'; '.join(exc.messages)}", messages.ERROR)

    @admin.action(description="Enable selected endpoints")
    def enable(self, request, queryset):
        for endpoint in queryset:
            services.endpoint_enable(endpoint=endpoint)
        self.message_user(request, f"{queryset.count()} endpoints enabled", messages.SUCCESS)

    @admin.action(description="Disable selected endpoints")
    def disable(self, request, queryset):
        for endpoint in queryset:
            services.endpoint_disable(endpoint=endpoint, reason=f"disabled by operator {request.user.get_username()}")
        self.message_user(request, f"{queryset.count()} endpoints disabled", messages.SUCCESS)

    @admin.action(description="Recover: replay failed deliveries since a time")
    def recover_action(self, request, queryset):
        if "apply" in request.POST:
            form = RecoverForm(request.POST)
            if form.is_valid():
                total, errors = 0, []
                for endpoint in queryset:
                    try:
                        total += services.endpoint_recover(endpoint=endpoint, since=form.cleaned_data["since"])
                    except ValidationError as exc:
                        errors.append(f"{endpoint}: {'; '.join(exc.messages)}")
                for error in errors:
                    self.message_user(request, error, messages.ERROR)
                self.message_user(request, f"{total} deliveries queued for replay", messages.SUCCESS)
                return None
        else:
            form = RecoverForm(initial={"since": timezone.now() - dt.timedelta(days=1)})
        return render(request, "admin/webhooks/recover.html",
                      {**self.admin_site.each_context(request), "form": form, "endpoints": queryset,
                       "action": "recover_action", "title": "Recover failed deliveries"})  # fmt: skip


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return WebhookDelivery.State.choices

    def queryset(self, request, queryset):
        return queryset.filter(state=self.value()) if self.value() else queryset


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("id", "created_at", "endpoint", "event_type", "txn_id", "state", "attempts", "last_status_code",
                    "next_attempt_at", "last_error")  # fmt: skip
    list_filter = (StateFilter, "event_type")
    search_fields = ("txn_id__exact", "endpoint__client_code__exact", "msg_id__exact", "event_type__exact")
    search_help_text = "Exact merchant code, transaction id, event type or webhook-id"
    list_select_related = ("endpoint",)
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields] + ["attempt_log"]
    actions = ["replay"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="attempts (webhook_logs)")
    def attempt_log(self, obj):
        from django.utils.html import format_html_join

        rows = selectors.attempts_for_delivery(delivery=obj)
        return format_html_join("\n", "<div>#{} {} · {} · {} ms · {}</div>",
                                ((a.attempt, a.attempted_at, a.status_code or "-", a.latency_ms, a.error or a.outcome) for a in rows))  # fmt: skip

    @admin.action(description="Replay selected deliveries")
    def replay(self, request, queryset):
        done, errors = 0, []
        for delivery in queryset:
            try:
                services.delivery_replay(delivery=delivery)
                done += 1
            except ValidationError as exc:
                errors.append(f"delivery {delivery.pk}: {'; '.join(exc.messages)}")
        for error in errors:
            self.message_user(request, error, messages.ERROR)
        self.message_user(request, f"{done} deliveries queued for replay", messages.SUCCESS)


@admin.register(WebhookAlert)
class WebhookAlertAdmin(admin.ModelAdmin):
    list_display = ("created_at", "client_code", "endpoint", "kind", "message", "acknowledged_at", "acknowledged_by")
    list_filter = ("kind", ("acknowledged_at", admin.EmptyFieldListFilter))
    readonly_fields = ("endpoint", "client_code", "kind", "message", "created_at", "acknowledged_at", "acknowledged_by")
    actions = ["acknowledge"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Acknowledge selected alerts")
    def acknowledge(self, request, queryset):
        for alert in queryset:
            services.alert_acknowledge(alert=alert, by=request.user.get_username())
        self.message_user(request, "alerts acknowledged", messages.SUCCESS)


@admin.register(WebhookTemplate)
class WebhookTemplateAdmin(admin.ModelAdmin):
    list_display = ("event_type", "version", "is_active", "fields", "rename", "created_at")
    list_filter = ("is_active",)
    search_fields = ("event_type",)

    def get_readonly_fields(self, request, obj=None):
        # A saved version is immutable: change a template by adding a new version.
        return ("event_type", "version", "fields", "rename", "created_at") if obj else ("created_at",)


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("attempted_at", "delivery_id", "attempt", "status_code", "latency_ms", "outcome", "error")
    list_filter = ("outcome",)
    search_fields = ("delivery_id__exact",)
    show_full_result_count = False
