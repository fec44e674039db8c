"""admin_changelist: the core transactions changelist at 1M rows vs 10k rows (goal ratio <= 1.5).

Same run, same machine: seed 10k rows, time the page (median of repeated GETs by a
logged-in operator); grow the table to `size` rows, time it again. Also times a txn_id
search and a status filter at the large size.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time

DEFAULT_SIZE = 1_000_000
SMALL = 10_000
URL = "/admin/core_legacy/transactiondetail/"


def _median_ms(client, path, params=None, repeats=15) -> float:
    client.get(path, params or {})  # warm caches and connections
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get(path, params or {})
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    return statistics.median(samples)


def run(*, size: int, progress) -> dict:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from core_legacy.owner import core_owner_connection
    from core_legacy.seeding.generator import seed_core

    end = dt.date.today()
    user = get_user_model().objects.create_superuser("bench", "bench@example.in", "bench-password")
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)

    with core_owner_connection() as conn:
        seed_core(conn, transactions=SMALL, clients=100, days=180, seed=1, end_date=end, schema=settings.CORE_DB_SCHEMA)
    small = _median_ms(client, URL)
    progress(f"{SMALL:,} rows: changelist {small:.1f} ms; growing to {size:,}")

    def report(done, total):
        if done % 250_000 == 0:
            progress(f"seeded {done:,}/{total:,}")

    with core_owner_connection() as conn:
        seed_core(conn, transactions=size - SMALL, clients=100, days=180, seed=2, end_date=end,
                  schema=settings.CORE_DB_SCHEMA, progress=report)  # fmt: skip
    large = _median_ms(client, URL)
    txn_id = "002" + f"{size // 2:015d}"
    search = _median_ms(client, URL, {"q": txn_id})
    status = _median_ms(client, URL, {"status": "FAILED"})
    progress(f"{size:,} rows: changelist {large:.1f} ms, txn_id search {search:.1f} ms, status filter {status:.1f} ms")
    return {
        "rows_small": SMALL,
        "rows_large": size,
        "ms_small": round(small, 1),
        "ms_large": round(large, 1),
        "large_to_small_ratio": round(large / small, 2),
        "ms_large_txn_id_search": round(search, 1),
        "ms_large_status_filter": round(status, 1),
    }
