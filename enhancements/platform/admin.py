from django.contrib import admin

from .models import MerchantApiKey


@admin.register(MerchantApiKey)
class MerchantApiKeyAdmin(admin.ModelAdmin):
    list_display = ("client_code", "name", "prefix", "created_at", "last_used_at", "revoked_at")
    search_fields = ("client_code__exact", "prefix")
    readonly_fields = ("client_id", "client_code", "prefix", "key_hash", "created_at", "created_by", "last_used_at")
    fields = ("client_id", "client_code", "name", "prefix", "created_at", "created_by", "last_used_at", "revoked_at")

    def has_add_permission(self, request):
        return False  # keys are created with manage.py create_merchant_api_key (shown once)
