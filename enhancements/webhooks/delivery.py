"""Delivery worker: claim due deliveries (SKIP LOCKED), send them concurrently over pooled
keep-alive connections, record the outcomes set-based in one transaction.

Outcomes:
  2xx                                   -> succeeded
  timeout, connection error, 5xx, 408, 429 -> retried on the schedule (Retry-After honoured),
                                           dead-lettered after the last retry
  410 Gone                              -> dead-lettered, endpoint disabled, operators alerted
  other 3xx/4xx, SSRF-blocked           -> dead-lettered at once (redirects are never followed)
Continuous failure for conf.disable_after() disables the endpoint and raises an alert.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from uuid import UUID

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from enhancements.platform.crypto import decrypt
from integrations.webhook_delivery.client import DeliveryClient, DeliveryResult

from . import conf
from .db import execute, fast_cursor
from .models import WebhookDelivery, WebhookEndpoint
from .signing import secret_key, signature_header

QUEUE = WebhookDelivery._meta.db_table
ENDPOINTS = WebhookEndpoint._meta.db_table
LEASE_MARGIN_S = 15


@dataclasses.dataclass
class Claimed:
    id: int
    endpoint_id: UUID
    client_id: int
    msg_id: str
    body: str
    attempt: int  # this attempt's number (1-based)


@dataclasses.dataclass
class Sent:
    claimed: Claimed
    result: DeliveryResult
    attempted_at: dt.datetime
    signature: str


class Worker:
    """One per process: a shared pooled client and a thread pool for concurrent sends."""

    _lock = threading.Lock()
    _instance: Worker | None = None

    def __init__(self, *, concurrency: int | None = None):
        self.concurrency = concurrency or conf.delivery_concurrency()
        self.client = DeliveryClient(allowed_networks=conf.allowed_private_networks(), connections_per_host=self.concurrency,
                                     response_body_limit=conf.response_body_limit())  # fmt: skip
        self.executor = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="webhook-send")
        self._keys: dict[tuple, list[bytes]] = {}

    @classmethod
    def shared(cls) -> Worker:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.client.close()

    def keys_for(self, endpoint: dict, now: dt.datetime) -> list[bytes]:
        # Decrypting (Fernet) per delivery would cost more than signing; cache per secret version.
        previous_valid = bool(endpoint["previous_secret_encrypted"]) and endpoint["previous_secret_expires_at"] is not None \
            and endpoint["previous_secret_expires_at"] > now  # fmt: skip
        cache_key = (endpoint["secret_encrypted"], endpoint["previous_secret_encrypted"] if previous_valid else "")
        keys = self._keys.get(cache_key)
        if keys is None:
            keys = [secret_key(decrypt(endpoint["secret_encrypted"]))]
            if previous_valid:
                keys.append(secret_key(decrypt(endpoint["previous_secret_encrypted"])))
            if len(self._keys) > 10_000:
                self._keys.clear()
            self._keys[cache_key] = keys
        return keys

    def send_all(self, send, items: list[Claimed]) -> list[Sent]:
        """`send` every item on up to `concurrency` threads, results in item order. Each thread
        takes the next unsent item when it is free (a slow endpoint holds up one thread, not a
        share of the batch); one task per thread, not per item, as creating a future per
        delivery cost more than signing it."""
        results: list[Sent | None] = [None] * len(items)
        indexes = iter(range(len(items)))
        lock = threading.Lock()

        def drain() -> None:
            while True:
                with lock:
                    i = next(indexes, None)
                if i is None:
                    return
                results[i] = send(items[i])

        threads = min(self.concurrency, len(items))
        for future in [self.executor.submit(drain) for _ in range(threads)]:
            future.result()  # re-raises a bug in send(); results are complete after this
        return results  # type: ignore[return-value]

    def run_batch(self, *, batch_size: int | None = None) -> int:
        """Claim, send and record one batch; returns how many deliveries were claimed."""
        claimed, endpoints = claim_due(limit=batch_size or conf.delivery_batch_size(), concurrency=self.concurrency)
        if not claimed:
            return 0

        def send(item: Claimed) -> Sent:
            endpoint = endpoints[item.endpoint_id]
            now = timezone.now()
            timestamp = int(now.timestamp())
            body = item.body.encode()
            signature = signature_header(msg_id=item.msg_id, timestamp=timestamp, body=body, keys=self.keys_for(endpoint, now))
            headers = {"webhook-id": item.msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}
            result = self.client.post(endpoint["url"], body=body, headers=headers, timeout_s=endpoint["timeout_s"])
            return Sent(item, result, now, signature)

        sent = self.send_all(send, claimed)
        record(sent, endpoints)
        return len(claimed)


ENDPOINT_COLUMNS = ("id", "url", "timeout_s", "is_active", "disabled_reason", "rate_limit_per_s", "secret_encrypted",
                    "previous_secret_encrypted", "previous_secret_expires_at")  # fmt: skip


def claim_due(*, limit: int, concurrency: int) -> tuple[list[Claimed], dict[UUID, dict]]:
    """Lease due deliveries of active endpoints; dead-letter those of disabled endpoints;
    defer those over an endpoint's rate limit. One short transaction; the common case is two
    statements (claim-and-lease, endpoints)."""
    now = timezone.now()
    with transaction.atomic(), fast_cursor() as cursor:
        # Select and lease in one statement. The lease covers the whole batch even if every
        # send waits its full timeout: ceil(n / concurrency) rounds x the slowest timeout.
        execute(
            cursor,
            f"""
            WITH c AS (
                SELECT q.id, e.timeout_s FROM {QUEUE} q JOIN {ENDPOINTS} e ON e.id = q.endpoint_id
                WHERE q.state = 'pending' AND q.next_attempt_at <= %(now)s
                ORDER BY q.next_attempt_at, q.id LIMIT %(limit)s FOR UPDATE OF q SKIP LOCKED
            ), lease AS (
                SELECT ceil(count(*)::float / %(concurrency)s) * max(timeout_s) + %(margin)s AS s FROM c
            )
            UPDATE {QUEUE} q SET next_attempt_at = %(now)s + make_interval(secs => lease.s)
            FROM c, lease WHERE q.id = c.id
            RETURNING q.id, q.endpoint_id, q.client_id, q.msg_id, q.body, q.attempts
            """,
            {"now": now, "limit": limit, "concurrency": concurrency, "margin": LEASE_MARGIN_S},
        )
        rows = sorted((Claimed(r[0], r[1], r[2], r[3], r[4], r[5] + 1) for r in cursor.fetchall()), key=lambda c: c.id)
        if not rows:
            return [], {}
        execute(cursor, f"SELECT {', '.join(ENDPOINT_COLUMNS)} FROM {ENDPOINTS} WHERE id = ANY(%s)", [list({r.endpoint_id for r in rows})])
        endpoints = {r[0]: dict(zip(ENDPOINT_COLUMNS, r)) for r in cursor.fetchall()}
        disabled = [r for r in rows if not endpoints[r.endpoint_id]["is_active"]]
        if disabled:
            cursor.execute(
                f"UPDATE {QUEUE} SET state = 'failed', finished_at = %s, last_error = 'endpoint disabled: ' || e.disabled_reason "
                f"FROM {ENDPOINTS} e WHERE e.id = {QUEUE}.endpoint_id AND {QUEUE}.id = ANY(%s)",
                [now, [r.id for r in disabled]],
            )
        rows = [r for r in rows if endpoints[r.endpoint_id]["is_active"]]
        rows, deferred = _apply_rate_limits(rows, endpoints, now)
        if deferred:
            cursor.execute(f"UPDATE {QUEUE} SET next_attempt_at = %s WHERE id = ANY(%s)",
                           [now.replace(microsecond=0) + dt.timedelta(seconds=1), [r.id for r in deferred]])  # fmt: skip
    return rows, endpoints


def _apply_rate_limits(rows: list[Claimed], endpoints: dict, now: dt.datetime) -> tuple[list[Claimed], list[Claimed]]:
    """Per-endpoint deliveries per second, shared by all workers through a Redis counter."""
    limited = {eid for eid, e in endpoints.items() if e["rate_limit_per_s"]}
    if not limited:
        return rows, []
    by_endpoint: dict[UUID, list[Claimed]] = {}
    for row in rows:
        by_endpoint.setdefault(row.endpoint_id, []).append(row)
    allowed_rows, deferred = [], []
    second = int(now.timestamp())
    for endpoint_id, items in by_endpoint.items():
        limit = endpoints[endpoint_id]["rate_limit_per_s"]
        if endpoint_id not in limited:
            allowed_rows.extend(items)
            continue
        key = f"webhooks:rate:{endpoint_id}:{second}"
        cache.add(key, 0, timeout=5)
        used = cache.incr(key, len(items))
        allowed = max(0, min(len(items), limit - (used - len(items))))
        allowed_rows.extend(items[:allowed])
        deferred.extend(items[allowed:])
    return allowed_rows, deferred


def retry_delay(attempt: int, *, retry_after_s: float | None = None) -> dt.timedelta | None:
    """Delay before the next attempt after failed attempt number `attempt`, None if exhausted."""
    schedule = conf.retry_schedule()
    if attempt > len(schedule):
        return None
    jitter = conf.retry_jitter()
    delay = schedule[attempt - 1] * random.uniform(1 - jitter, 1 + jitter)
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, conf.max_retry_after().total_seconds()))
    return dt.timedelta(seconds=delay)


def classify(result: DeliveryResult) -> str:
    if result.ok:
        return "succeeded"
    if result.blocked:
        return "blocked"
    if result.status is None or result.timed_out or result.status >= 500 or result.status in (408, 429):
        return "retry"
    if result.status == 410:
        return "gone"
    return "rejected"  # 3xx and other 4xx


def _describe(result: DeliveryResult) -> str:
    if result.status is None:
        return result.error
    text = f"HTTP {result.status}"
    if 300 <= result.status < 400:
        text += " (redirects are not followed)"
    return text + (f": {result.error}" if result.error else "")


def record(sent: list[Sent], endpoints: dict[UUID, dict]) -> None:
    """Write outcomes, attempt logs and endpoint health in one transaction."""
    now = timezone.now()
    updates: list[tuple] = []  # id, state, next_attempt_at, status, error, finished_at, attempts
    logs: list[tuple] = []
    gone: set[UUID] = set()
    ok_endpoints: set[UUID] = set()
    failed_endpoints: dict[UUID, str] = {}
    for s in sent:
        c, r = s.claimed, s.result
        outcome = classify(r)
        error = "" if outcome == "succeeded" else _describe(r)
        state, next_at, finished = "pending", now, None
        if outcome == "succeeded":
            state, finished = "succeeded", now
            ok_endpoints.add(c.endpoint_id)
        elif outcome == "retry":
            delay = retry_delay(c.attempt, retry_after_s=r.retry_after_s)
            if delay is None:
                state, finished, error = "failed", now, f"retries exhausted after {c.attempt} attempts; last: {error}"
            else:
                next_at = now + delay
        else:
            state, finished = "failed", now
            if outcome == "gone":
                gone.add(c.endpoint_id)
        if outcome != "succeeded":
            failed_endpoints[c.endpoint_id] = error
        updates.append((c.id, state, next_at, r.status, error[:2000], finished, c.attempt))
        logs.append((s.attempted_at, c.id, c.endpoint_id, c.client_id, c.attempt, r.status, r.latency_ms, r.error[:2000],
                     r.body, s.signature, outcome))  # fmt: skip
    with transaction.atomic(), fast_cursor() as cursor:
        cols = list(zip(*updates))
        execute(
            cursor,
            f"""
            UPDATE {QUEUE} q SET state = u.state, next_attempt_at = u.next_at, last_status_code = u.status,
                   last_error = u.error, finished_at = u.finished, attempts = u.attempts
            FROM unnest(%b::bigint[], %b::text[], %b::timestamptz[], %b::int[], %b::text[], %b::timestamptz[], %b::int[])
                 AS u(id, state, next_at, status, error, finished, attempts)
            WHERE q.id = u.id AND q.state = 'pending'
            """,
            [list(c) for c in cols],
        )
        # COPY: the attempt log is the largest write of a batch; psycopg's C copy path avoids
        # adapting eleven parameter arrays in Python.
        with cursor.copy(
            "COPY webhook_logs (attempted_at, delivery_id, endpoint_id, client_id, attempt, status_code, latency_ms, "
            "error, response_body, signature, outcome) FROM STDIN"
        ) as copy:
            for row in logs:
                copy.write_row(row)
        if ok_endpoints:
            # Only rows that change: concurrent workers delivering to the same endpoint would
            # otherwise queue on its row lock every batch.
            WebhookEndpoint.objects.filter(id__in=ok_endpoints).filter(
                Q(failing_since__isnull=False) | Q(last_success_at__isnull=True) | Q(last_success_at__lt=now - dt.timedelta(seconds=10))
            ).update(failing_since=None, last_success_at=now)
        for endpoint_id, error in failed_endpoints.items():
            if endpoint_id in ok_endpoints:
                WebhookEndpoint.objects.filter(id=endpoint_id).update(last_failure_at=now, last_failure_reason=error[:500])
            else:
                cursor.execute(
                    f"UPDATE {ENDPOINTS} SET failing_since = COALESCE(failing_since, %s), last_failure_at = %s, "
                    f"last_failure_reason = %s WHERE id = %s",
                    [now, now, error[:500], endpoint_id],
                )
        for endpoint_id in gone:
            _disable(endpoint_id, "the receiver answered 410 Gone", "gone")
        disable_failing_endpoints(now=now, endpoint_ids=set(failed_endpoints) - ok_endpoints - gone)


def _disable(endpoint_id: UUID, reason: str, kind: str) -> None:
    from .services import endpoint_disable

    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is not None:  # it may have been deleted while the batch was in flight
        endpoint_disable(endpoint=endpoint, reason=reason, alert_kind=kind)


def disable_failing_endpoints(*, now: dt.datetime, endpoint_ids: set[UUID] | None = None) -> int:
    """Disable active endpoints failing continuously for longer than conf.disable_after()."""
    if endpoint_ids is not None and not endpoint_ids:
        return 0
    period = conf.disable_after()
    candidates = WebhookEndpoint.objects.filter(is_active=True, failing_since__lte=now - period)
    if endpoint_ids is not None:
        candidates = candidates.filter(id__in=endpoint_ids)
    count = 0
    for endpoint in candidates:
        hours = (now - endpoint.failing_since).total_seconds() / 3600
        _disable(endpoint.pk, f"failing continuously for {hours:.0f} hours (since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC); "
                              f"last error: {endpoint.last_failure_reason}", "auto_disabled")  # fmt: skip
        count += 1
    return count

