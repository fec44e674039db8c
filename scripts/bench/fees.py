"""fees: bulk fee calculation with logging, monthly fee reconciliation, calculation API.

- calcs_per_s: fee_bulk_calculate over one month of `size` seeded transactions (every
  fee-bearing one priced in SQL and logged into fee_calculation_log). Goal >= 50k/s.
- recon_to_sql_ratio: fee_reconciliation_run for every merchant over that month, divided by
  a plain SQL aggregate (count and sums of the charged fee/GST per merchant) over the same
  rows as PostgreSQL runs it by default (parallel workers allowed: the reconciliation's
  per-transaction SELECT is read-only and runs in parallel too), measured in the same run.
  Goal <= 3. recon_to_serial_sql_ratio: the same against the aggregate run serially.
- bulk_rerun_logged: a second bulk run over the same month logs nothing (idempotent per txn_id).
- api_p95_ms: p95 of POST /api/v1/fees/calculate/ through the Django test client (one
  merchant API key, promotions and logging on).
"""

from __future__ import annotations

import datetime as dt
import statistics
import time

DEFAULT_SIZE = 1_000_000
MONTH = dt.date(2026, 10, 1)
NEXT = dt.date(2026, 11, 1)
API_CALLS = 300


def _configure(progress) -> None:
    from django.contrib.auth import get_user_model

    from core_legacy.seeding.generator import PAYMENT_MODES
    from enhancements.fees.services import fee_configuration_approve, fee_configuration_propose, promotion_create

    User = get_user_model()
    maker = User.objects.create_user(username="bench-maker", password="x", is_staff=True)
    checker = User.objects.create_user(username="bench-checker", password="x", is_staff=True)
    since = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)

    def approve(**kw):
        config = fee_configuration_propose(created_by=maker, effective_from=since, **kw)
        fee_configuration_approve(configuration_id=config.pk, approved_by=checker)

    # Defaults at the rates the seeded core charged (so most rows reconcile); zero-MDR modes
    # need none (statute), Challan gets an explicit 0%.
    for _pid, name, _kind, _code, _share, rate in PAYMENT_MODES:
        if name not in ("UPI", "RuPay Debit Card"):
            approve(client_id=None, payment_mode=name, structure="percentage", percent=f"{rate * 100:.4f}")
    # Merchant versions that make the pricing SQL do real work: slabs, caps, tiers, platform fees.
    for client_id in range(1, 41):
        approve(client_id=client_id, payment_mode="Credit Card", structure="slab", min_fee="1.00", max_fee="5000.00",
                slabs=[{"lower": "0", "lower_inclusive": True, "upper": "2000", "upper_inclusive": True, "percent": "1.9"},
                       {"lower": "2000", "lower_inclusive": False, "upper": None, "percent": "1.7", "fixed": "2"}])  # fmt: skip
        approve(client_id=client_id, payment_mode="Net Banking", structure="volume_tier",
                tiers=[{"min_volume": "0", "percent": "1.5"}, {"min_volume": "5000000", "percent": "1.2"}])  # fmt: skip
        approve(client_id=client_id, payment_mode="UPI", fee_type="platform", structure="flat", fixed_amount="0.50")
    promotion_create(created_by=maker, name="bench auto", discount_type="percent", discount_value="10",
                     valid_from=since, valid_until=dt.datetime(2100, 1, 1, tzinfo=dt.UTC))  # fmt: skip
    progress("configured defaults, 120 merchant versions and a promotion")


def run(*, size: int, progress) -> dict:
    from django.conf import settings
    from django.db import connection, transaction
    from django.test import Client

    from core_legacy.owner import core_owner_connection
    from core_legacy.seeding.generator import seed_core
    from enhancements.fees.calculation import fee_bulk_calculate
    from enhancements.fees.pricing_sql import CHARGED_FEE, CHARGED_GST, FEE_BEARING, naive_bounds
    from enhancements.fees.reconciliation import fee_reconciliation_run
    from enhancements.platform.merchant_auth import merchant_api_key_create
    from core_legacy.sql import core_table

    def report(done, total):
        if done % 200_000 == 0 or done == total:
            progress(f"seeded {done:,}/{total:,}")

    with core_owner_connection() as conn:
        seed_core(conn, transactions=size, clients=200, days=30, seed=11, end_date=NEXT - dt.timedelta(days=1),
                  schema=settings.CORE_DB_SCHEMA, progress=report)  # fmt: skip
        conn.execute("ANALYZE transaction_detail")
    _configure(progress)

    started = time.perf_counter()
    bulk = fee_bulk_calculate(start=MONTH, end=NEXT, chunk_days=16, workers=2, progress=progress)
    bulk_s = time.perf_counter() - started
    calcs_per_s = bulk["logged"] / bulk_s
    t0 = time.perf_counter()  # idempotent per txn_id: a rerun prices everything again, logs nothing
    rerun = fee_bulk_calculate(start=MONTH, end=NEXT, chunk_days=16, workers=2)
    rerun_s = time.perf_counter() - t0
    progress(f"bulk rerun: {rerun['logged']:,} logged in {rerun_s:.2f}s")

    baseline_sql = f"""
        SELECT td.client_id, count(*), sum({CHARGED_FEE}), sum({CHARGED_GST})
        FROM {core_table('transaction_detail')} td
        WHERE td.trans_date >= %(start_naive)s AND td.trans_date < %(end_naive)s AND td.client_id IS NOT NULL
          AND {FEE_BEARING}
        GROUP BY td.client_id"""
    bounds = naive_bounds(MONTH, NEXT)

    def aggregate(workers: int | None) -> float:
        t0 = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            if workers is not None:
                cursor.execute(f"SET LOCAL max_parallel_workers_per_gather = {workers}")
            cursor.execute(baseline_sql, bounds)
            cursor.fetchall()
        return time.perf_counter() - t0

    # The baseline is the plain aggregate as PostgreSQL runs it by default (on this server:
    # up to max_parallel_workers_per_gather = 2 workers). The reconciliation's heavy part is a
    # read-only SELECT that gets the same parallel workers; only its small result is written.
    # The serial figure is reported too.
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_parallel_workers_per_gather")
        default_workers = cursor.fetchone()[0]
    baseline = [aggregate(None) for _ in range(3)]
    serial = [aggregate(0) for _ in range(3)]
    progress(f"plain aggregate: {min(baseline):.2f}s by default ({default_workers} workers), {min(serial):.2f}s serial")
    recon = []
    for _ in range(2):
        t0 = time.perf_counter()
        recs = fee_reconciliation_run(period_start=MONTH, period_end=NEXT, requested_by="bench")
        recon.append(time.perf_counter() - t0)
    discrepancies = sum(r.discrepancy_count for r in recs)
    progress(f"reconciliation: {min(recon):.2f}s for {len(recs)} merchants, {discrepancies:,} discrepancies")

    _, key = merchant_api_key_create(client_id=1, client_code="bench", name="bench")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}", HTTP_HOST="localhost")
    modes = ["Credit Card", "UPI", "Net Banking", "Wallet", "Debit Card"]
    latencies = []
    for i in range(API_CALLS):
        body = {"payment_mode": modes[i % len(modes)], "amount": f"{100 + i * 37.5:.2f}", "txn_id": f"B{i}"}
        t0 = time.perf_counter()
        response = client.post("/api/v1/fees/calculate/", body, content_type="application/json")
        latencies.append((time.perf_counter() - t0) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"calculate API answered {response.status_code}: {response.content[:300]!r}")
    latencies.sort()
    return {
        "transactions": size,
        "calcs_logged": bulk["logged"],
        "calcs_unpriced": bulk["unpriced"],
        "bulk_seconds": round(bulk_s, 2),
        "calcs_per_s": round(calcs_per_s),
        "bulk_rerun_logged": rerun["logged"],
        "bulk_rerun_seconds": round(rerun_s, 2),
        "recon_seconds": round(min(recon), 2),
        "plain_aggregate_seconds": round(min(baseline), 2),
        "plain_aggregate_workers": int(default_workers),
        "recon_to_sql_ratio": round(min(recon) / min(baseline), 2),
        "plain_aggregate_serial_seconds": round(min(serial), 2),
        "recon_to_serial_sql_ratio": round(min(recon) / min(serial), 2),
        "recon_merchants": len(recs),
        "recon_discrepancies": discrepancies,
        "api_p50_ms": round(statistics.median(latencies), 2),
        "api_p95_ms": round(latencies[int(len(latencies) * 0.95) - 1], 2),
    }
