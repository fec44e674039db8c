"""Every write to webhook endpoints and deliveries made on behalf of a merchant or operator.

The delivery machinery itself (fan-out, sending, recording) is in fanout.py / delivery.py.
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from enhancements.platform.crypto import encrypt

from . import conf, kicks
from .models import WebhookAlert, WebhookDelivery, WebhookEndpoint
from .rendering import current_templates, render
from .signing import generate_secret
from .validation import validate_event_types, validate_rate_limit, validate_timeout, validate_url

_UNSET = object()


@transaction.atomic
def endpoint_create(
    *, client_id: int, client_code: str, url: str, event_types: list[str], description: str = "",
    timeout_s: float = 10.0, rate_limit_per_s: int | None = None,
) -> tuple[WebhookEndpoint, str]:  # fmt: skip
    """Create an endpoint; returns (endpoint, plaintext secret). The secret is shown only now."""
    secret = generate_secret()
    endpoint = WebhookEndpoint.objects.create(
        client_id=client_id, client_code=client_code, url=validate_url(url), event_types=validate_event_types(event_types),
        description=(description or "")[:500], timeout_s=validate_timeout(timeout_s),
        rate_limit_per_s=validate_rate_limit(rate_limit_per_s), secret_encrypted=encrypt(secret),
    )  # fmt: skip
    return endpoint, secret


@transaction.atomic
def endpoint_update(
    *, endpoint: WebhookEndpoint, url=_UNSET, event_types=_UNSET, description=_UNSET, timeout_s=_UNSET,
    rate_limit_per_s=_UNSET, is_active=_UNSET,
) -> WebhookEndpoint:  # fmt: skip
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    if url is not _UNSET:
        endpoint.url = validate_url(url)
    if event_types is not _UNSET:
        endpoint.event_types = validate_event_types(event_types)
    if description is not _UNSET:
        endpoint.description = (description or "")[:500]
    if timeout_s is not _UNSET:
        endpoint.timeout_s = validate_timeout(timeout_s)
    if rate_limit_per_s is not _UNSET:
        endpoint.rate_limit_per_s = validate_rate_limit(rate_limit_per_s)
    endpoint.save()
    if is_active is True and not endpoint.is_active:
        endpoint = endpoint_enable(endpoint=endpoint)
    elif is_active is False and endpoint.is_active:
        endpoint = endpoint_disable(endpoint=endpoint, reason="disabled by the merchant")
    return endpoint


@transaction.atomic
def endpoint_enable(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        is_active=True, disabled_reason="", disabled_at=None, failing_since=None, updated_at=timezone.now()
    )
    return WebhookEndpoint.objects.get(pk=endpoint.pk)


@transaction.atomic
def endpoint_disable(*, endpoint: WebhookEndpoint, reason: str, alert_kind: str | None = None) -> WebhookEndpoint:
    """Disable; queued deliveries for it are dead-lettered when next claimed (recoverable)."""
    now = timezone.now()
    changed = WebhookEndpoint.objects.filter(pk=endpoint.pk, is_active=True).update(
        is_active=False, disabled_reason=reason[:500], disabled_at=now, updated_at=now
    )
    if changed and alert_kind:
        WebhookAlert.objects.create(endpoint_id=endpoint.pk, client_code=endpoint.client_code, kind=alert_kind, message=reason)
    return WebhookEndpoint.objects.get(pk=endpoint.pk)


@transaction.atomic
def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()


@transaction.atomic
def endpoint_rotate_secret(*, endpoint: WebhookEndpoint, grace_period: dt.timedelta | None = None) -> tuple[WebhookEndpoint, str]:
    """New secret (returned once). The old one keeps signing beside it for the grace period,
    so receivers can switch over without rejecting deliveries."""
    grace = conf.secret_grace_period() if grace_period is None else grace_period
    if grace < dt.timedelta(0) or grace > dt.timedelta(days=7):
        raise ValidationError({"grace_period_hours": "the grace period must be between 0 and 168 hours"})
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    now = timezone.now()
    secret = generate_secret()
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted if grace > dt.timedelta(0) else ""
    endpoint.previous_secret_expires_at = now + grace if grace > dt.timedelta(0) else None
    endpoint.secret_encrypted = encrypt(secret)
    endpoint.secret_rotated_at = now
    endpoint.save()
    return endpoint, secret


def _require_active(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.get(pk=endpoint.pk)  # the caller's copy may be stale
    if not endpoint.is_active:
        raise ValidationError(f"the endpoint is disabled ({endpoint.disabled_reason or 'no reason given'}); enable it first")
    return endpoint


@transaction.atomic
def endpoint_test_ping(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Queue a `webhook.test` event to this endpoint (subscription not needed)."""
    endpoint = _require_active(endpoint)
    now = timezone.now()
    template = current_templates().get(conf.TEST_EVENT_TYPE)
    body, version = render(event_type=conf.TEST_EVENT_TYPE, occurred_at=now.isoformat(), template=template,
                           payload={"endpoint_id": str(endpoint.pk), "client_code": endpoint.client_code,
                                    "message": "Test event sent from the back office."})  # fmt: skip
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, client_id=endpoint.client_id, event_id=None, event_type=conf.TEST_EVENT_TYPE,
        msg_id=f"msg_{uuid.uuid4().hex}", body=body, template_version=version, next_attempt_at=now, event_created_at=now,
    )  # fmt: skip
    kicks.after_commit_deliver()
    return delivery


def _replays_of(originals: list[WebhookDelivery], now: dt.datetime) -> list[WebhookDelivery]:
    return [
        WebhookDelivery(endpoint_id=d.endpoint_id, client_id=d.client_id, event_id=d.event_id, event_type=d.event_type,
                        txn_id=d.txn_id, msg_id=d.msg_id, body=d.body, template_version=d.template_version,
                        next_attempt_at=now, replay_of=d, is_replay=True, event_created_at=now)  # fmt: skip
        for d in originals
    ]


@transaction.atomic
def delivery_replay(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again as a new delivery with the same webhook-id and body."""
    _require_active(WebhookEndpoint(pk=delivery.endpoint_id))
    (replay,) = WebhookDelivery.objects.bulk_create(_replays_of([delivery], timezone.now()))
    kicks.after_commit_deliver()
    return replay


@transaction.atomic
def endpoint_recover(*, endpoint: WebhookEndpoint, since: dt.datetime) -> int:
    """Replay every dead-lettered delivery of the endpoint created since `since` (at most
    14 days back) that has not already been replayed. Returns how many were queued."""
    now = timezone.now()
    if timezone.is_naive(since):
        raise ValidationError({"since": "give a time with a UTC offset, e.g. 2026-01-31T10:00:00+05:30"})
    if since < now - conf.recover_window():
        raise ValidationError({"since": f"recovery reaches back at most {conf.recover_window().days} days"})
    if since > now:
        raise ValidationError({"since": "the time is in the future"})
    endpoint = _require_active(endpoint)
    already = WebhookDelivery.objects.filter(replay_of=OuterRef("pk")).filter(~Q(state=WebhookDelivery.State.FAILED))
    failed = list(
        WebhookDelivery.objects.filter(endpoint=endpoint, state=WebhookDelivery.State.FAILED, created_at__gte=since)
        .filter(~Exists(already)).order_by("created_at", "id")
    )  # fmt: skip
    # A failed replay of an event already counted once: recover each webhook-id only once.
    unique = list({d.msg_id: d for d in failed}.values())
    WebhookDelivery.objects.bulk_create(_replays_of(unique, now), batch_size=1000)
    if unique:
        kicks.after_commit_deliver()
    return len(unique)


@transaction.atomic
def alert_acknowledge(*, alert: WebhookAlert, by: str) -> None:
    WebhookAlert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(acknowledged_at=timezone.now(), acknowledged_by=by[:150])

