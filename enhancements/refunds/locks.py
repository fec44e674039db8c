"""Per-transaction locks, so that two refunds can never both take the last balance.

A transaction-scoped PostgreSQL advisory lock per txn_id *bucket* (crc32 % BUCKETS): a
single refund takes one lock; a batch of 10,000 rows takes at most BUCKETS locks, in
ascending order so two batches can never deadlock. The locks are released at commit.
Buckets bound the lock-table use; two unrelated transactions sharing a bucket only wait.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from django.db import connection

LOCK_NAMESPACE = 0x52464E44  # "RFND"
BUCKETS = 512


def txn_bucket(txn_id: str) -> int:
    return zlib.crc32(txn_id.encode()) % BUCKETS


def lock_transactions(txn_ids: Iterable[str]) -> None:
    """Block until this database transaction holds the locks of every txn_id given."""
    if not connection.in_atomic_block:
        raise RuntimeError("lock_transactions needs an open transaction (the locks end at commit)")
    buckets = sorted({txn_bucket(t) for t in txn_ids if t})
    if not buckets:
        return
    with connection.cursor() as cursor:
        # unnest keeps array order, so the locks are taken in ascending bucket order.
        cursor.execute(
            "SELECT count(*) FROM (SELECT pg_advisory_xact_lock(%s, b) FROM unnest(%s::int[]) AS u(b)) s",
            [LOCK_NAMESPACE, buckets],
        )
