"""seed: how fast seed_core fills transaction_detail (goal: 1M rows in under 2 minutes).

Baseline in the same run: a bare COPY of already generated rows (100k) into an
unindexed, unpartitioned copy of transaction_detail, i.e. what the database alone costs.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time

DEFAULT_SIZE = 1_000_000


def run(*, size: int, progress) -> dict:
    from django.conf import settings

    from core_legacy.owner import core_owner_connection
    from core_legacy.seeding.generator import TXN_COLUMNS, seed_core, seed_merchants, transaction_rows
    from core_legacy.seeding.writer import copy_rows

    end = dt.date.today()

    def report(done, total):
        if done % 200_000 == 0 or done == total:
            progress(f"seeded {done:,}/{total:,}")

    with core_owner_connection() as conn:
        started = time.perf_counter()
        result = seed_core(conn, transactions=size, clients=200, days=120, seed=7, end_date=end,
                           schema=settings.CORE_DB_SCHEMA, progress=report)  # fmt: skip
        seconds = time.perf_counter() - started

        baseline_n = min(size, 100_000)
        progress(f"baseline: bare COPY of {baseline_n:,} pre-generated rows")
        clients = seed_merchants(conn, clients=200, seed=7)
        rows = list(itertools.islice(transaction_rows(clients=clients, transactions=baseline_n, days=120, seed=8, end_date=end), baseline_n))
        conn.execute("CREATE TEMP TABLE bench_copy (LIKE transaction_detail)")
        t0 = time.perf_counter()
        copy_rows(conn, "bench_copy", TXN_COLUMNS, rows)
        baseline_rate = baseline_n / (time.perf_counter() - t0)
        conn.rollback()
    rate = result.transactions / seconds
    return {
        "rows": result.transactions,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rate),
        "bare_copy_rows_per_s": round(baseline_rate),
        "seed_to_bare_copy_ratio": round(baseline_rate / rate, 2),
    }
