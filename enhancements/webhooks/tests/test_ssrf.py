"""SSRF guard: address classification, and refusal at connect time through the real client."""

import socket

import pytest
from django.utils import timezone

from enhancements.webhooks import services
from enhancements.webhooks.delivery import Worker
from enhancements.webhooks.fanout import fan_out_batch
from enhancements.webhooks.models import WebhookAttempt, WebhookDelivery
from integrations.webhook_delivery.client import DeliveryClient
from integrations.webhook_delivery.guard import parse_networks, refusal_reason

REFUSED = [
    "10.0.0.1", "172.16.5.4", "192.168.1.1", "127.0.0.1", "0.0.0.0", "169.254.10.10", "169.254.169.254",
    "100.64.0.1", "100.127.255.254", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "198.18.0.1",
    "::1", "::", "fe80::1", "fc00::1", "fd00:ec2::254", "ff02::1", "::ffff:10.0.0.1", "::ffff:127.0.0.1",
    "::ffff:169.254.169.254", "64:ff9b::a00:1", "2002:a00:1::", "2001:db8::1",
]  # fmt: skip
ALLOWED = ["8.8.8.8", "1.1.1.1", "203.0.114.9", "100.128.0.1", "2606:4700:4700::1111", "2a00:1450:4001::1"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address):
    assert refusal_reason(address) is not None


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_pass(address):
    assert refusal_reason(address) is None


def test_allow_list_admits_only_its_networks():
    allowed = parse_networks(["127.0.0.0/8", "::1/128"])
    assert refusal_reason("127.0.0.1", allowed) is None
    assert refusal_reason("::1", allowed) is None
    assert refusal_reason("::ffff:127.0.0.1", allowed) is None  # the same host in mapped form
    assert refusal_reason("10.0.0.1", allowed) is not None
    assert "metadata" in refusal_reason("169.254.169.254", allowed)


def test_a_dns_name_resolving_to_loopback_is_refused_at_connect(receiver):
    """`localhost` is resolved by the system resolver (no test double) to a loopback address."""
    assert {i[4][0] for i in socket.getaddrinfo("localhost", 80)} & {"127.0.0.1", "::1"}
    client = DeliveryClient(allowed_networks=[])
    result = client.post(f"http://localhost:{receiver.port}/hooks", body=b"{}", headers={}, timeout_s=2)
    assert result.blocked and result.status is None and "localhost resolves to a refused address" in result.error
    assert receiver.requests == []
    # the same client with the dev allow-list reaches it, by name and by mapped literal
    ok = DeliveryClient(allowed_networks=["127.0.0.0/8", "::1/128"])
    assert ok.post(f"http://localhost:{receiver.port}/hooks", body=b"{}", headers={}, timeout_s=2).status == 200
    assert ok.post(f"http://127.0.0.1:{receiver.port}/hooks", body=b"{}", headers={}, timeout_s=2).status == 200
    blocked_literal = client.post(f"http://[::ffff:127.0.0.1]:{receiver.port}/x", body=b"{}", headers={}, timeout_s=2)
    assert blocked_literal.blocked
    assert len(receiver.requests) == 2


@pytest.mark.django_db
def test_endpoint_accepted_at_config_time_is_still_checked_at_delivery(receiver, publish, settings):
    """Configured while the name was acceptable; when the delivery connects, the resolved
    address is refused (what DNS rebinding or a changed allow-list looks like)."""
    endpoint, _ = services.endpoint_create(client_id=101, client_code="M101", url=f"http://localhost:{receiver.port}/hooks", event_types=["*"])
    publish()
    fan_out_batch()
    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = []  # production policy
    worker = Worker(concurrency=2)
    try:
        worker.run_batch()
    finally:
        worker.close()
    delivery = WebhookDelivery.objects.get()
    assert receiver.requests == []
    assert delivery.state == "failed" and delivery.last_error.startswith("blocked: localhost resolves to a refused address")
    assert WebhookAttempt.objects.get(delivery_id=delivery.id).outcome == "blocked"


@pytest.mark.django_db
def test_config_time_refuses_names_resolving_to_private_addresses(settings):
    from django.core.exceptions import ValidationError

    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = []
    with pytest.raises(ValidationError, match="localhost.*not a|localhost.*range"):
        services.endpoint_create(client_id=1, client_code="M1", url="http://localhost:9/x", event_types=["*"])
    with pytest.raises(ValidationError, match="range"):
        services.endpoint_create(client_id=1, client_code="M1", url="http://[::ffff:10.0.0.1]/x", event_types=["*"])
    assert timezone.now()
