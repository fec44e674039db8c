"""refunds_bulk: validating a bulk refund file against the core (goal: 10,000 rows in seconds).

Seeds a core (5 transactions per CSV row, 200 merchants, deterministic), writes a CSV of
`size` refund rows drawn from it (with ~8% bad rows: unknown txn, over-balance, bad
amount, duplicates sharing a balance), then measures:
  - `seconds` / `rows_per_s`: parse + set-based validation (the operator's preview), the
    headline figure;
  - `upload_seconds`: the whole batch_upload (preview plus storing the row report);
  - `submit_seconds`: batch_submit (locks, re-validation, one refund per accepted row).
Baseline in the same run: validating rows one at a time (one validate() per row, what a
naive loop over the single-refund path would do), on a sample, as rows/s.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections import Counter

DEFAULT_SIZE = 10_000
BASELINE_SAMPLE = 300


def _csv(rows) -> bytes:
    lines = ["txn_id,client_code,client_txn_id,amount,reason"]
    lines += [",".join(r) for r in rows]
    return ("\n".join(lines) + "\n").encode()


def run(*, size: int, progress) -> dict:
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.db import connections

    from core_legacy.owner import core_owner_connection
    from core_legacy.seeding.generator import seed_core
    from enhancements.refunds.batches import batch_submit, batch_upload, parse_upload, validate_rows
    from enhancements.refunds.rules import Candidate, validate

    transactions = max(size * 5, 10_000)
    progress(f"seeding the core with {transactions:,} transactions")
    with core_owner_connection() as conn:
        seed_core(conn, transactions=transactions, clients=200, days=150, seed=11, end_date=dt.date.today(),
                  schema=settings.CORE_DB_SCHEMA)  # fmt: skip
        conn.commit()
    with connections["core"].cursor() as cursor:
        cursor.execute("SELECT txn_id, client_code, client_txn_id, paid_amount FROM transaction_detail "
                       "WHERE paid_amount > 1 ORDER BY txn_id LIMIT %s", [size])  # fmt: skip
        txns = cursor.fetchall()
    rng = random.Random(5)
    rows = []
    for n in range(size):
        txn_id, code, ctid, paid = txns[n % len(txns)]
        amount = f"{max(round(paid * rng.uniform(0.05, 0.5), 2), 0.01):.2f}"
        kind = rng.random()
        if kind < 0.03:
            rows.append((f"99{n:016d}", "", "", amount, "unknown txn"))
        elif kind < 0.05:
            rows.append((txn_id, "", "", f"{paid * 2:.2f}", "over balance"))
        elif kind < 0.06:
            rows.append((txn_id, "", "", "12.345", "bad amount"))
        elif kind < 0.16:
            rows.append(("", code or "", ctid or "", amount, "by client reference"))
        else:
            rows.append((txn_id, "", "", amount, "bench"))
    data = _csv(rows)
    progress(f"CSV of {size:,} rows ({len(data) / 1e6:.1f} MB)")

    started = time.perf_counter()
    parsed = parse_upload("bench.csv", data)
    verdicts = validate_rows(parsed)
    seconds = time.perf_counter() - started
    accepted = sum(v.ok for v in verdicts)
    by_rule = dict(sorted(Counter(v.rule for v in verdicts if not v.ok).items()))
    progress(f"preview: {accepted:,} accepted, {size - accepted:,} rejected {by_rule} in {seconds:.2f}s")

    sample = parsed[:BASELINE_SAMPLE]
    t0 = time.perf_counter()
    for r in sample:
        validate([Candidate(amount=r.amount, txn_id=r.txn_id or None, client_code=r.client_code or None,
                            client_txn_id=r.client_txn_id or None, pre_error=r.error)])  # fmt: skip
    per_row_rate = len(sample) / (time.perf_counter() - t0)
    progress(f"baseline: one row at a time, {per_row_rate:,.0f} rows/s on {len(sample)} rows")

    user, _ = User.objects.get_or_create(username="bench-refunds")
    t0 = time.perf_counter()
    batch = batch_upload(file_name="bench.csv", data=data, actor=user)
    upload_seconds = time.perf_counter() - t0
    progress(f"batch_upload (preview + row report stored): {upload_seconds:.2f}s")
    t0 = time.perf_counter()
    batch = batch_submit(batch_id=batch.pk, actor=user)
    submit_seconds = time.perf_counter() - t0
    progress(f"batch_submit ({batch.accepted_rows:,} refunds created): {submit_seconds:.2f}s")
    rate = size / seconds
    return {
        "rows": size,
        "seconds": round(seconds, 3),
        "rows_per_s": round(rate),
        "accepted_rows": accepted,
        "rejected_rows": size - accepted,
        "rejected_by_rule": by_rule,
        "upload_seconds": round(upload_seconds, 3),
        "submit_seconds": round(submit_seconds, 3),
        "per_row_baseline_rows_per_s": round(per_row_rate),
        "set_based_to_per_row_ratio": round(rate / per_row_rate, 1),
    }
