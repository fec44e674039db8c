"""Standard Webhooks secrets and signatures (https://www.standardwebhooks.com/).

Secret: `whsec_` + base64 of random bytes. Signature: `v1,` + base64(HMAC-SHA256(key,
f"{webhook-id}.{webhook-timestamp}.{body}")), several space-separated while a rotated
secret is still in its grace period.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the spec allows 24..64


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature_header(*, msg_id: str, timestamp: int, body: bytes, keys: list[bytes]) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join("v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode() for key in keys)
