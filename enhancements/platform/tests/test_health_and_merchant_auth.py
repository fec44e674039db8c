import pytest
from django.test import Client

from enhancements.platform.merchant_auth import merchant_api_key_create
from enhancements.platform.models import MerchantApiKey


@pytest.mark.django_db(databases=["default", "core"])
def test_healthz_reports_each_dependency_and_core_is_read_only():
    response = Client().get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["core_db"]["read_only"] is True
    assert body["checks"]["default_db"]["ok"] and body["checks"]["redis"]["ok"]
    assert body["checks"]["redis"]["server_version"]
    assert body["versions"]["django"].startswith("5.2")


@pytest.mark.django_db(databases=["default", "core"])
def test_healthz_is_503_when_redis_is_unreachable(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"]["ok"] is False


@pytest.mark.django_db
def test_merchant_key_is_stored_hashed_and_authenticates():
    record, key = merchant_api_key_create(client_id=5, client_code="ABC", name="ci")
    assert key.startswith("mk_") and key not in record.key_hash
    assert not MerchantApiKey.objects.filter(key_hash=key).exists()
    from rest_framework.exceptions import AuthenticationFailed
    from rest_framework.test import APIRequestFactory

    from enhancements.platform.merchant_auth import MerchantKeyAuthentication

    factory = APIRequestFactory()
    principal, _ = MerchantKeyAuthentication().authenticate(factory.get("/", HTTP_AUTHORIZATION=f"Bearer {key}"))
    assert (principal.client_id, principal.client_code) == (5, "ABC")
    with pytest.raises(AuthenticationFailed, match="Unknown or revoked"):
        MerchantKeyAuthentication().authenticate(factory.get("/", HTTP_AUTHORIZATION="Bearer mk_wrong"))
    MerchantApiKey.objects.filter(pk=record.pk).update(revoked_at="2026-01-01T00:00:00Z")
    with pytest.raises(AuthenticationFailed):
        MerchantKeyAuthentication().authenticate(factory.get("/", HTTP_AUTHORIZATION=f"Bearer {key}"))
