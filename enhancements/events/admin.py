from django.contrib import admin, messages

from enhancements.platform.admin_mixins import ViewOnlyAdminMixin

from . import outbox
from .models import OutboxDelivery, OutboxEvent


class DeliveryInline(admin.TabularInline):
    model = OutboxDelivery
    extra = 0
    can_delete = False
    readonly_fields = ("consumer", "state", "attempts", "available_at", "last_error", "done_at")
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(OutboxEvent)
class OutboxEventAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "type", "client_code", "txn_id", "occurred_at", "id")
    list_filter = ("type",)
    search_fields = ("txn_id__exact", "client_code__exact", "event_key__exact")
    readonly_fields = ("id", "event_key", "type", "client_id", "client_code", "txn_id", "payload", "occurred_at", "created_at")
    inlines = [DeliveryInline]
    show_full_result_count = False


@admin.register(OutboxDelivery)
class OutboxDeliveryAdmin(admin.ModelAdmin):
    list_display = ("id", "consumer", "state", "attempts", "available_at", "event", "last_error")
    list_filter = ("consumer", "state")
    search_fields = ("event__txn_id__exact",)
    readonly_fields = ("event", "consumer", "state", "attempts", "available_at", "last_error", "done_at")
    actions = ["requeue"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Re-queue selected deliveries")
    def requeue(self, request, queryset):
        count = outbox.requeue(delivery_ids=list(queryset.values_list("id", flat=True)))
        self.message_user(request, f"{count} deliveries re-queued", messages.SUCCESS)
