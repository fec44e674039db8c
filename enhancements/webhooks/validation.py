"""Endpoint input checks at configuration time. (The SSRF guard runs again at every
connect: a name that resolved to a public address today may not tomorrow.)"""

from __future__ import annotations

import ipaddress
import socket
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

from integrations.webhook_delivery.guard import parse_networks, refusal_reason

from . import conf


def validate_url(url: str) -> str:
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValidationError({"url": f"not a valid URL: {exc}"}) from exc
    allowed_schemes = ("https",) if conf.require_https() else ("http", "https")
    if parts.scheme not in allowed_schemes:
        raise ValidationError({"url": f"the URL must start with {' or '.join(s + '://' for s in allowed_schemes)}"})
    if not parts.hostname:
        raise ValidationError({"url": "the URL has no host"})
    if parts.username or parts.password:
        raise ValidationError({"url": "credentials in the URL are not allowed; authenticate with the webhook signature"})
    if len(url) > 2000:
        raise ValidationError({"url": "the URL is longer than 2000 characters"})
    allowed = parse_networks(conf.allowed_private_networks())
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = sorted({i[4][0] for i in socket.getaddrinfo(parts.hostname, port or 443, 0, socket.SOCK_STREAM)})
        except (socket.gaierror, UnicodeError) as exc:
            raise ValidationError({"url": f"the host {parts.hostname!r} does not resolve: {exc}"}) from exc
    for address in addresses:
        reason = refusal_reason(address, allowed)
        if reason:
            raise ValidationError({"url": f"webhooks cannot be sent to {parts.hostname}: {reason}"})
    return url


def validate_event_types(event_types) -> list[str]:
    if not isinstance(event_types, list) or not event_types or not all(isinstance(t, str) and t.strip() for t in event_types):
        raise ValidationError({"event_types": 'give a non-empty list of event types, e.g. ["payment.succeeded"] or ["*"]'})
    cleaned = []
    for value in event_types:
        value = value.strip()
        if not any(fnmatchcase(known, value) for known in conf.EVENT_TYPES):
            raise ValidationError({"event_types": f"{value!r} matches no event type; known types: {', '.join(conf.EVENT_TYPES)}"})
        if value not in cleaned:
            cleaned.append(value)
    return cleaned


def validate_timeout(timeout_s) -> float:
    try:
        value = float(timeout_s)
    except (TypeError, ValueError) as exc:
        raise ValidationError({"timeout_s": "the timeout must be a number of seconds"}) from exc
    if not conf.MIN_TIMEOUT_S <= value <= conf.MAX_TIMEOUT_S:
        raise ValidationError({"timeout_s": f"the timeout must be between {conf.MIN_TIMEOUT_S:g} and {conf.MAX_TIMEOUT_S:g} seconds"})
    return value


def validate_rate_limit(rate) -> int | None:
    if rate in (None, ""):
        return None
    if isinstance(rate, bool) or not isinstance(rate, int) or not 1 <= rate <= 10_000:
        raise ValidationError({"rate_limit_per_s": "the rate limit must be a whole number from 1 to 10000 per second (or empty)"})
    return rate


def subscribed(event_types: list[str], event_type: str) -> bool:
    return any(fnmatchcase(event_type, pattern) for pattern in event_types)
