"""Inbound callbacks from the core gateway: store raw first, verify, then process idempotently.

Payload (JSON): {"event_id": "...", "type": "refund.status" | "settlement.status", ...}
For refund.status: "idempotency_key" (ours) or "gateway_refund_id", and "status"
COMPLETED / FAILED / PENDING, optional "message". Settlement callbacks are stored (and
verified) for the reconciliation side; the refunds workflow takes no action on them.

The same callback twice changes nothing: the second becomes DUPLICATE (a partial unique
index allows one PROCESSED row per (source, event_id)), and applying a status the refund
already has is a no-op anyway.
"""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations.core_gateway import signing
from integrations.core_gateway.client import STATUSES

from .execution import refund_apply_gateway_status
from .models import InboundCallback, RefundRequest

log = logging.getLogger(__name__)

KEPT_HEADERS = ("content-type", "user-agent", "x-core-timestamp", "x-core-signature", "x-request-id", "x-forwarded-for")
SOURCE = "core_gateway"


def callback_receive(*, body: bytes, headers: dict, remote_addr: str = "", source: str = SOURCE) -> InboundCallback:
    """Store the raw callback (committed on its own), then verify and process it."""
    kept = {k: v for k, v in ((k.lower(), v) for k, v in headers.items()) if k in KEPT_HEADERS}
    with transaction.atomic():
        callback = InboundCallback.objects.create(source=source, headers=kept, body=body.decode("utf-8", "replace"),
                                                  remote_addr=remote_addr[:64])  # fmt: skip
    return callback_process(callback_id=callback.pk)


def _finish(callback: InboundCallback, status: str, error: str = "") -> InboundCallback:
    callback.status, callback.error, callback.processed_at = status, error[:2000], timezone.now()
    callback.save(update_fields=["status", "error", "processed_at", "signature_valid", "event_id", "event_type", "refund",
                                 "attempts"])  # fmt: skip
    return callback


def callback_process(*, callback_id: int) -> InboundCallback:
    """Verify and apply one stored callback (also the admin's re-process action)."""
    callback = InboundCallback.objects.get(pk=callback_id)
    callback.attempts += 1
    body = callback.body.encode()
    try:
        signing.verify(secret=settings.CORE_CALLBACK_SECRET, body=body, timestamp=callback.headers.get("x-core-timestamp"),
                       signature=callback.headers.get("x-core-signature"),
                       tolerance_s=int(getattr(settings, "CORE_CALLBACK_TOLERANCE_S", signing.DEFAULT_TOLERANCE_S)),
                       now=callback.received_at.timestamp())  # fmt: skip
    except signing.SignatureError as exc:
        callback.signature_valid = False
        log.warning("core callback %s refused: %s", callback.pk, exc)
        return _finish(callback, InboundCallback.Status.SIGNATURE_REJECTED, str(exc))
    callback.signature_valid = True
    try:
        payload = json.loads(body)
        if not isinstance(payload, dict):
            raise ValueError("payload is not a JSON object")
    except ValueError as exc:
        return _finish(callback, InboundCallback.Status.INVALID, f"body is not a JSON object: {exc}")
    callback.event_id = str(payload.get("event_id") or "")[:200]
    callback.event_type = str(payload.get("type") or "")[:40]
    if not callback.event_id or not callback.event_type:
        return _finish(callback, InboundCallback.Status.INVALID, "payload needs event_id and type")
    duplicate = InboundCallback.objects.filter(source=callback.source, event_id=callback.event_id,
                                               status=InboundCallback.Status.PROCESSED).exclude(pk=callback.pk)  # fmt: skip
    if duplicate.exists():
        return _finish(callback, InboundCallback.Status.DUPLICATE, f"already processed as callback #{duplicate.first().pk}")
    if callback.event_type.startswith("settlement."):
        return _finish(callback, InboundCallback.Status.STORED, "settlement callback: stored for reconciliation")
    if callback.event_type != "refund.status":
        return _finish(callback, InboundCallback.Status.INVALID, f"unknown callback type {callback.event_type!r}")
    status = str(payload.get("status") or "").upper()
    if status not in STATUSES:
        return _finish(callback, InboundCallback.Status.INVALID, f"status must be one of {sorted(STATUSES)}, got {status!r}")
    refund = _find_refund(payload)
    if refund is None:
        return _finish(callback, InboundCallback.Status.FAILED, "no refund with this idempotency_key / gateway_refund_id")
    callback.refund = refund
    try:
        with transaction.atomic():
            refund_apply_gateway_status(refund_id=refund.pk, status=status, message=str(payload.get("message") or ""),
                                        gateway_refund_id=str(payload.get("gateway_refund_id") or ""), via=f"callback #{callback.pk}")  # fmt: skip
            return _finish(callback, InboundCallback.Status.PROCESSED)
    except IntegrityError:  # a concurrent copy of this callback won the race
        callback.refresh_from_db(fields=["status"])
        return _finish(callback, InboundCallback.Status.DUPLICATE, "processed concurrently by another copy")


def _find_refund(payload: dict) -> RefundRequest | None:
    key = str(payload.get("idempotency_key") or "")
    if key:
        try:
            return RefundRequest.objects.filter(idempotency_key=key).first()
        except ValidationError:  # not a UUID: not one of ours
            return None
    gateway_id = str(payload.get("gateway_refund_id") or "")
    return RefundRequest.objects.filter(gateway_refund_id=gateway_id).first() if gateway_id else None
