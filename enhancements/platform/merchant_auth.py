"""Merchant authentication for the DRF API.

Views for merchants use `MerchantKeyAuthentication` + `IsMerchant`; `request.user` is then
a `MerchantPrincipal` and every query must be scoped with `request.user.client_id`
(use `merchant_scope(request)`), so one merchant's credentials never see another's data.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets

from django.db import transaction
from django.utils import timezone
from rest_framework import authentication, exceptions, permissions

from .models import MerchantApiKey

KEY_PREFIX = "mk_"


@dataclasses.dataclass(frozen=True)
class MerchantPrincipal:
    client_id: int
    client_code: str
    key_id: int
    is_authenticated: bool = True
    is_anonymous: bool = False
    is_staff: bool = False
    is_superuser: bool = False

    @property
    def pk(self):  # DRF throttling/logging look for a pk
        return f"merchant:{self.client_id}"

    def __str__(self) -> str:
        return f"merchant {self.client_code}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def merchant_api_key_create(*, client_id: int, client_code: str, name: str, created_by: str = "") -> tuple[MerchantApiKey, str]:
    """Create a key; returns (record, plaintext key). The plaintext is never stored."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    record = MerchantApiKey.objects.create(
        client_id=client_id, client_code=client_code, name=name, prefix=key[:12], key_hash=hash_key(key), created_by=created_by
    )
    return record, key


class MerchantKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if len(parts) != 2 or parts[0] != self.keyword or not parts[1].startswith(KEY_PREFIX):
            return None  # not ours; another authenticator may accept it
        record = MerchantApiKey.objects.filter(key_hash=hash_key(parts[1]), revoked_at__isnull=True).first()
        if record is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.")
        MerchantApiKey.objects.filter(pk=record.pk).update(last_used_at=timezone.now())
        return MerchantPrincipal(record.client_id, record.client_code, record.pk), record

    def authenticate_header(self, request):
        return self.keyword


class IsMerchant(permissions.BasePermission):
    message = "This endpoint needs a merchant API key (Authorization: Bearer mk_...)."

    def has_permission(self, request, view):
        return isinstance(request.user, MerchantPrincipal)


def merchant_scope(request) -> MerchantPrincipal:
    user = request.user
    if not isinstance(user, MerchantPrincipal):
        raise exceptions.PermissionDenied(IsMerchant.message)
    return user
