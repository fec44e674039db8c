"""HMAC-SHA256 signatures on callbacks the core gateway posts to this service.

The gateway signs `"{timestamp}.{raw body}"` with the shared secret (CORE_CALLBACK_SECRET)
and sends `X-Core-Timestamp: <unix seconds>` and `X-Core-Signature: sha256=<hex>`. Signing
the timestamp with the body stops an attacker from replaying an old callback later.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Core-Timestamp"
SIGNATURE_HEADER = "X-Core-Signature"
DEFAULT_TOLERANCE_S = 300


class SignatureError(Exception):
    """Why a callback's signature was refused (the message is stored with the callback)."""


def sign(*, secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signed_headers(*, secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret=secret, body=body, timestamp=timestamp)}


def verify(*, secret: str, body: bytes, timestamp: str | None, signature: str | None,
           now: float | None = None, tolerance_s: int = DEFAULT_TOLERANCE_S) -> None:  # fmt: skip
    """Raise SignatureError unless the signature is valid and the timestamp is fresh."""
    if not timestamp or not signature:
        raise SignatureError(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
    try:
        ts = int(timestamp)
    except ValueError as exc:
        raise SignatureError(f"{TIMESTAMP_HEADER} is not unix seconds: {timestamp!r}") from exc
    now = time.time() if now is None else now
    if abs(now - ts) > tolerance_s:
        raise SignatureError(f"timestamp {ts} is more than {tolerance_s}s away from now (replay?)")
    expected = sign(secret=secret, body=body, timestamp=ts)
    if not hmac.compare_digest(expected, signature.strip()):
        raise SignatureError("signature does not match the body (wrong secret or altered payload)")
