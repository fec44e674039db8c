"""Merchant API credentials.

A merchant (a core client: client_id/client_code) calls the API with
`Authorization: Bearer <key>`. Only a SHA-256 of the key is stored; the key itself is
shown once when created (`manage.py create_merchant_api_key`).
"""

from django.db import models


class MerchantApiKey(models.Model):
    client_id = models.IntegerField(db_index=True)
    client_code = models.CharField(max_length=64)
    name = models.CharField(max_length=100, help_text="what the merchant uses it for")
    prefix = models.CharField(max_length=16, unique=True, help_text="first characters, to recognise a key")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "merchant_api_keys"

    def __str__(self) -> str:
        return f"{self.client_code} {self.prefix}… ({self.name})"
