"""Client of the core gateway's refund API (the only way this service changes the core).

    POST /v1/refunds            Idempotency-Key: <uuid>   {"txn_id", "amount", "reason", "core_refund_id"?}
    GET  /v1/refunds/<key>      status enquiry; 404 when the gateway never received that key

Every call carries the refund's idempotency key, so retrying a POST after a timeout or a
5xx can never refund twice. When the retries are exhausted the outcome is *unknown*
(`GatewayOutcomeUnknown`): the caller must resolve it with `refund_status`, never re-send
blind. A 4xx answer is definitive (`GatewayRejected`): nothing was applied.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from decimal import Decimal, InvalidOperation

import requests
from django.conf import settings

log = logging.getLogger(__name__)

STATUS_COMPLETED = "COMPLETED"
STATUS_PENDING = "PENDING"
STATUS_FAILED = "FAILED"
STATUSES = {STATUS_COMPLETED, STATUS_PENDING, STATUS_FAILED}


class CoreGatewayError(Exception):
    pass


class GatewayOutcomeUnknown(CoreGatewayError):
    """Timed out / 5xx / connection lost after every retry: the refund may or may not exist."""


class GatewayRejected(CoreGatewayError):
    """The gateway answered 4xx: the request was refused and nothing was applied."""

    def __init__(self, message: str, *, status_code: int):
        super().__init__(message)
        self.status_code = status_code


@dataclasses.dataclass(frozen=True)
class GatewayRefund:
    idempotency_key: str
    gateway_refund_id: str
    status: str  # COMPLETED / PENDING / FAILED
    message: str
    txn_id: str
    amount: Decimal

    @classmethod
    def from_json(cls, data: dict) -> GatewayRefund:
        status = str(data.get("status", "")).upper()
        if status not in STATUSES:
            raise CoreGatewayError(f"gateway answered an unknown refund status {data.get('status')!r}")
        try:
            amount = Decimal(str(data.get("amount")))
        except InvalidOperation as exc:
            raise CoreGatewayError(f"gateway answered a non-decimal amount {data.get('amount')!r}") from exc
        return cls(
            idempotency_key=str(data.get("idempotency_key", "")),
            gateway_refund_id=str(data.get("gateway_refund_id") or ""),
            status=status,
            message=str(data.get("message") or ""),
            txn_id=str(data.get("txn_id") or ""),
            amount=amount,
        )


class CoreGatewayClient:
    def __init__(self, *, base_url: str | None = None, api_key: str | None = None, timeout_s: float | None = None,
                 retries: int | None = None, backoff_s: float | None = None) -> None:  # fmt: skip
        self.base_url = (base_url or settings.CORE_GATEWAY_URL).rstrip("/")
        self.api_key = api_key or settings.CORE_GATEWAY_API_KEY
        self.timeout_s = timeout_s if timeout_s is not None else settings.CORE_GATEWAY_TIMEOUT_S
        self.retries = retries if retries is not None else getattr(settings, "CORE_GATEWAY_RETRIES", 2)
        self.backoff_s = backoff_s if backoff_s is not None else getattr(settings, "CORE_GATEWAY_BACKOFF_S", 0.5)
        self.session = requests.Session()

    def _request(self, method: str, path: str, *, idempotency_key: str, json: dict | None = None) -> requests.Response:
        """Send with retries on timeouts, connection errors and 5xx (exponential backoff)."""
        headers = {"X-Api-Key": self.api_key, "Idempotency-Key": idempotency_key}
        last_error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * (2 ** (attempt - 1)))
            try:
                response = self.session.request(method, self.base_url + path, json=json, headers=headers, timeout=self.timeout_s)
            except (requests.Timeout, requests.ConnectionError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                log.warning("core gateway %s %s attempt %d: %s", method, path, attempt + 1, last_error)
                continue
            if response.status_code >= 500:
                last_error = f"HTTP {response.status_code}: {response.text[:200]}"
                log.warning("core gateway %s %s attempt %d: %s", method, path, attempt + 1, last_error)
                continue
            return response
        raise GatewayOutcomeUnknown(f"no definitive answer after {self.retries + 1} attempts; last: {last_error}")

    def refund_create(self, *, idempotency_key: str, txn_id: str, amount: Decimal, reason: str,
                      core_refund_id: int | None = None) -> GatewayRefund:  # fmt: skip
        body = {"txn_id": txn_id, "amount": str(amount), "reason": reason}
        if core_refund_id is not None:
            body["core_refund_id"] = core_refund_id
        response = self._request("POST", "/v1/refunds", idempotency_key=idempotency_key, json=body)
        if response.status_code >= 400:
            raise GatewayRejected(f"HTTP {response.status_code}: {response.text[:500]}", status_code=response.status_code)
        return GatewayRefund.from_json(response.json())

    def refund_status(self, *, idempotency_key: str) -> GatewayRefund | None:
        """The gateway's record of the refund, or None when it never received this key."""
        response = self._request("GET", f"/v1/refunds/{idempotency_key}", idempotency_key=idempotency_key)
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise GatewayRejected(f"HTTP {response.status_code}: {response.text[:500]}", status_code=response.status_code)
        return GatewayRefund.from_json(response.json())
