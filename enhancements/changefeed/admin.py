"""Operator view of the feed: status (watermark, lag, events per type in the last hour), errors.

The beat job itself (interval, on/off) is edited under Periodic tasks ("changefeed: poll the core").
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Count
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from .models import FeedError, FeedState
from .selectors import events_last_hour
from .services import feed_poll


def _age(then) -> str:
    if then is None:
        return "-"
    seconds = int((timezone.now() - then).total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h {seconds % 3600 // 60}m"


@admin.register(FeedState)
class FeedStateAdmin(admin.ModelAdmin):
    list_display = ("source", "lookback_days", "watermark", "watermark_age", "lag", "last_poll_finished_at",
                    "last_poll_seconds", "last_poll_rows_changed", "last_poll_events", "events_in_last_hour",
                    "open_errors", "last_poll_error")  # fmt: skip
    list_editable = ("lookback_days",)
    fields = ("source", "lookback_days", "watermark", "last_refund_id", "lag", "events_by_type_last_hour",
              "last_poll_started_at", "last_success_started_at", "last_poll_finished_at", "last_poll_seconds",
              "last_poll_rows_changed", "last_poll_events", "last_poll_error", "last_old_row_sweep_at",
              "backfill_since", "backfill_done_through")  # fmt: skip
    readonly_fields = tuple(f for f in fields if f != "lookback_days")
    actions = ["poll_now"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        self._last_hour = events_last_hour()  # one query per page, not per row
        self._open_errors = dict(
            FeedError.objects.filter(resolved_at__isnull=True)
            .values_list("source_table")
            .annotate(n=Count("id"))
            .values_list("source_table", "n")
        )
        return super().changelist_view(request, extra_context)

    @admin.display(description="watermark age")
    def watermark_age(self, obj):
        return _age(obj.watermark)

    @admin.display(description="lag (since last complete poll)")
    def lag(self, obj):
        return _age(obj.last_success_started_at)

    @admin.display(description="feed events, last hour (all types)")
    def events_in_last_hour(self, obj):
        counts = getattr(self, "_last_hour", None) or events_last_hour()
        return sum(counts.values())

    @admin.display(description="open errors")
    def open_errors(self, obj):
        return getattr(self, "_open_errors", {}).get(obj.source, 0)

    @admin.display(description="events per type, last hour")
    def events_by_type_last_hour(self, obj):
        rows = events_last_hour().items()
        return format_html(
            "<table>{}</table>", format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", ((t, n) for t, n in rows))
        )

    @admin.action(description="Poll the core now")
    def poll_now(self, request, queryset):
        try:
            result = feed_poll()
        except ImproperlyConfigured as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(
            request,
            f"{result.rows_changed} changed rows, {result.events} events, {result.errors} feed errors "
            f"in {result.seconds:.1f}s",
            messages.SUCCESS,
        )


@admin.register(FeedError)
class FeedErrorAdmin(admin.ModelAdmin):
    list_display = ("last_seen_at", "source_table", "row_key", "column_name", "value", "message", "occurrences",
                    "resolved_at")  # fmt: skip
    list_filter = ("source_table", "column_name", ("resolved_at", admin.EmptyFieldListFilter))
    search_fields = ("row_key__exact",)
    readonly_fields = ("source_table", "row_key", "column_name", "value", "message", "first_seen_at",
                       "last_seen_at", "occurrences", "resolved_at")  # fmt: skip
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
