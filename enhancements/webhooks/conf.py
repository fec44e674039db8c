"""Webhook settings, each overridable in Django settings (defaults here, documented in docs/webhooks.md)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings

# Seconds to wait before retry 1, 2, ...; after the last one a delivery is dead-lettered.
DEFAULT_RETRY_SCHEDULE_S = (5, 300, 1800, 7200, 18000, 36000, 36000)


def retry_schedule() -> tuple[float, ...]:
    return tuple(float(s) for s in getattr(settings, "WEBHOOK_RETRY_SCHEDULE_S", DEFAULT_RETRY_SCHEDULE_S))


def retry_jitter() -> float:
    """Each delay is multiplied by a random factor in [1 - j, 1 + j]."""
    return float(getattr(settings, "WEBHOOK_RETRY_JITTER", 0.2))


def max_retry_after() -> dt.timedelta:
    """A receiver's Retry-After is honoured up to this much (a day by default)."""
    return dt.timedelta(seconds=float(getattr(settings, "WEBHOOK_MAX_RETRY_AFTER_S", 86400)))


def disable_after() -> dt.timedelta:
    """Continuous failure for this long disables the endpoint (default 5 days)."""
    return dt.timedelta(seconds=float(getattr(settings, "WEBHOOK_DISABLE_AFTER_FAILING_S", 5 * 86400)))


def max_body_bytes() -> int:
    return int(getattr(settings, "WEBHOOK_MAX_BODY_BYTES", 20 * 1024))


def log_retention_days() -> int:
    return int(getattr(settings, "WEBHOOK_LOG_RETENTION_DAYS", 90))


def recover_window() -> dt.timedelta:
    return dt.timedelta(days=int(getattr(settings, "WEBHOOK_RECOVER_WINDOW_DAYS", 14)))


def secret_grace_period() -> dt.timedelta:
    return dt.timedelta(hours=float(getattr(settings, "WEBHOOK_SECRET_GRACE_HOURS", 24)))


def allowed_private_networks() -> list[str]:
    return list(getattr(settings, "WEBHOOK_ALLOWED_PRIVATE_NETWORKS", []))


def require_https() -> bool:
    return bool(getattr(settings, "WEBHOOK_REQUIRE_HTTPS", getattr(settings, "ENVIRONMENT", "") == "production"))


def delivery_concurrency() -> int:
    return int(getattr(settings, "WEBHOOK_DELIVERY_CONCURRENCY", 16))


def delivery_batch_size() -> int:
    return int(getattr(settings, "WEBHOOK_DELIVERY_BATCH_SIZE", 250))


def response_body_limit() -> int:
    return int(getattr(settings, "WEBHOOK_RESPONSE_BODY_LIMIT", 2048))


# Timeout bounds for an endpoint (seconds).
MIN_TIMEOUT_S = 1.0
MAX_TIMEOUT_S = 30.0

# Event types a merchant may subscribe to (patterns with * are matched against these).
EVENT_TYPES = (
    "payment.initiated", "payment.succeeded", "payment.failed", "payment.aborted", "payment.challan_generated",
    "settlement.settled", "settlement.reconciled", "refund.core_initiated", "refund.core_completed",
    "refund_request.received", "refund.created", "refund.approved", "refund.rejected", "refund.processed",
    "refund.failed", "chargeback.raised", "chargeback.resolved", "fee.reconciliation_completed",
)  # fmt: skip
TEST_EVENT_TYPE = "webhook.test"
