"""Encryption at rest for sensitive values (Fernet, with key rotation via MultiFernet)."""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    if not keys:
        # Non-production only (production refuses to start without FERNET_KEYS).
        keys = (base64.urlsafe_b64encode(hashlib.sha256(("fernet:" + secret_key).encode()).digest()).decode(),)
    return MultiFernet([Fernet(k) for k in keys])


def encrypt(plaintext: str) -> str:
    return _fernet(tuple(settings.FERNET_KEYS), settings.SECRET_KEY).encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet(tuple(settings.FERNET_KEYS), settings.SECRET_KEY).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("cannot decrypt: wrong FERNET_KEYS or corrupted value") from exc
