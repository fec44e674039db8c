"""change_feed: backfill speed, steady-state poll cost, and duplicates.

1. Seed `size` transactions, all inside the feed's look-back window (28 days, window 30).
2. Backfill them (events emitted): backfill_rows_per_s (goal >= 20k). For scale, in the
   same run: a baseline backfill (same work, no events) and a bare scan, in rows/s. Then,
   outside the backfill's time, the registered consumers create their delivery rows for
   those events as their claims would (consumer_catch_up_s, consumer_deliveries_per_s).
3. Change 1% of the rows as the core would (successes, settlements with UTR, refunds,
   chargebacks) and time ONE poll cycle. Baseline in the same run: a bare scan of the same
   columns over the same window (streamed to Python with a server-side cursor and
   discarded), the least a poller that reads the window must pay. poll_to_scan_ratio
   = poll seconds / scan seconds (goal <= 3).
4. Re-run the poll and part of the backfill, and two pollers at once: duplicate_events =
   events those re-runs created + (type, txn_id) pairs with more than one event (must be 0).
"""

from __future__ import annotations

import datetime as dt
import threading
import time

DEFAULT_SIZE = 1_000_000
DAYS = 28
LOOKBACK_DAYS = 30


def _change_one_percent(conn) -> int:
    """1% of the rows move on in their lifecycle, as the core writes it."""
    cur = conn.execute(
        """
        UPDATE transaction_detail SET
            status = CASE WHEN sabpaisa_resp_code IN ('0100', '0400') THEN 'SUCCESS' ELSE status END,
            sabpaisa_resp_code = CASE WHEN sabpaisa_resp_code IN ('0100', '0400') THEN '0000' ELSE sabpaisa_resp_code END,
            trans_complete_date = coalesce(trans_complete_date, trans_date + interval '2 minutes'),
            is_settled = CASE WHEN sabpaisa_resp_code = '0000' AND NOT coalesce(is_settled, false) THEN true ELSE is_settled END,
            settlement_utr = CASE WHEN sabpaisa_resp_code = '0000' AND settlement_utr IS NULL THEN 'UTRBENCH' || txn_id ELSE settlement_utr END,
            settlement_date = CASE WHEN sabpaisa_resp_code = '0000' AND settlement_date IS NULL THEN trans_date + interval '1 day' ELSE settlement_date END,
            refund_initiated_on = CASE WHEN sabpaisa_resp_code = '0800' THEN trans_date + interval '3 days' ELSE refund_initiated_on END,
            refund_amount = CASE WHEN sabpaisa_resp_code = '0800' THEN act_amount ELSE refund_amount END,
            is_charge_back = CASE WHEN sabpaisa_resp_code IN ('0300', '0200', '0600', '0700') THEN true ELSE is_charge_back END,
            charge_back_date = CASE WHEN sabpaisa_resp_code IN ('0300', '0200', '0600', '0700') THEN trans_date + interval '5 days' ELSE charge_back_date END,
            charge_back_status = CASE WHEN sabpaisa_resp_code IN ('0300', '0200', '0600', '0700') THEN 'RAISED' ELSE charge_back_status END
        WHERE abs(hashtext(txn_id)) % 100 = 0
        """
    )
    conn.commit()
    return cur.rowcount


def _consumers_catch_up(progress) -> int:
    """Create every registered consumer's deliveries for the backfill's events (as claims would)."""
    from django.db import connection

    from enhancements.events import outbox
    from enhancements.events.registry import registered_consumers

    with connection.cursor() as cursor:
        cursor.execute("SELECT max(seq) FROM outbox_events")
        last = cursor.fetchone()[0]
    created = 0
    for consumer in registered_consumers():
        while True:
            created += outbox.materialise(consumer=consumer, max_events=50_000)
            with connection.cursor() as cursor:
                cursor.execute("SELECT last_seq FROM outbox_consumer_cursors WHERE consumer = %s", [consumer])
                if cursor.fetchone()[0] >= last:
                    break
        progress(f"consumer {consumer}: deliveries created")
    return created


def _bare_scan(window_start: dt.datetime) -> tuple[int, float]:
    from django.db import connection, transaction

    from core_legacy.read_models import TRANSACTION_COLUMNS
    from core_legacy.sql import core_table

    columns = ", ".join(connection.ops.quote_name(c) for c in TRANSACTION_COLUMNS)
    started = time.perf_counter()
    rows = 0
    with transaction.atomic():
        connection.ensure_connection()
        with connection.connection.cursor(name="bench_bare_scan") as cur:
            cur.execute(f"SELECT {columns} FROM {core_table('transaction_detail')} WHERE trans_date >= %s", [window_start])
            while batch := cur.fetchmany(5000):
                rows += len(batch)
    return rows, time.perf_counter() - started


def run(*, size: int, progress) -> dict:
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from core_legacy.fields import to_core_naive
    from core_legacy.owner import core_owner_connection
    from core_legacy.seeding.generator import seed_core
    from enhancements.changefeed.derive import FEED_EVENT_TYPES
    from enhancements.changefeed.models import FeedState
    from enhancements.changefeed.services import feed_backfill, feed_poll, feed_states_ensure
    from enhancements.events.models import OutboxEvent

    today = to_core_naive(timezone.now()).date()
    with core_owner_connection() as conn:
        progress(f"seeding {size:,} transactions over {DAYS} days")
        seeded = seed_core(conn, transactions=size, clients=200, days=DAYS, seed=31, end_date=today,
                           schema=settings.CORE_DB_SCHEMA,
                           progress=lambda d, t: d % 200_000 == 0 and progress(f"seeded {d:,}/{t:,}"))  # fmt: skip
        conn.execute("ANALYZE transaction_detail")
        conn.commit()
    feed_states_ensure()
    FeedState.objects.update(lookback_days=LOOKBACK_DAYS)
    feed_events = OutboxEvent.objects.filter(type__in=FEED_EVENT_TYPES)

    since = dt.datetime.combine(today - dt.timedelta(days=DAYS + 1), dt.time.min)
    window_start = dt.datetime.combine(today - dt.timedelta(days=LOOKBACK_DAYS), dt.time.min)
    progress("baseline backfill (state recorded, no events), then the state is dropped again")
    started = time.perf_counter()
    baseline = feed_backfill(since=since, baseline=True, on_range=lambda r: progress(f"baseline through {r.hi or 'now'}"))
    baseline_s = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE changefeed_txn_state, changefeed_refund_request_seen")
    FeedState.objects.update(watermark=None, last_refund_id=None)
    _bare_scan(window_start)
    scan_rows, full_scan_s = _bare_scan(window_start)
    progress(f"baseline: {baseline.rows_changed:,} rows in {baseline_s:.1f}s; bare scan {full_scan_s:.1f}s")
    progress(f"backfill since {since:%Y-%m-%d} (events emitted)")
    done = {"rows": 0}

    def on_range(report):
        done["rows"] += report.rows_changed
        progress(f"backfill through {report.hi or 'now'}: {done['rows']:,} rows")

    started = time.perf_counter()
    backfill = feed_backfill(since=since, on_range=on_range)
    backfill_s = time.perf_counter() - started
    backfill_events = feed_events.count()
    progress(f"backfill: {backfill.rows_changed:,} rows, {backfill_events:,} events in {backfill_s:.1f}s")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE changefeed_txn_state; ANALYZE outbox_events")
    # Not part of the backfill: the consumers' delivery rows are created when they claim.
    # Timed here so the cost that moved out of the backfill is on record too.
    started = time.perf_counter()
    deliveries = _consumers_catch_up(progress)
    catch_up_s = time.perf_counter() - started
    progress(f"consumers caught up: {deliveries:,} deliveries created in {catch_up_s:.1f}s")

    with core_owner_connection() as conn:
        changed = _change_one_percent(conn)
    progress(f"core changed {changed:,} rows (1%)")
    scanned, scan_s = _bare_scan(window_start)  # the cache is warm from the scans above
    before = feed_events.count()
    started = time.perf_counter()
    poll = feed_poll()
    poll_s = time.perf_counter() - started
    steady_events = feed_events.count() - before
    scanned2, scan2_s = _bare_scan(window_start)
    scan_s = min(scan_s, scan2_s)
    progress(f"poll: {poll.rows_changed:,} changed rows, {steady_events:,} events in {poll_s:.2f}s; "
             f"bare scan of {scanned:,} rows: {scan_s:.2f}s")  # fmt: skip

    progress("re-runs: a second poll, two concurrent polls, the last 3 days backfilled again")
    before = feed_events.count()
    started = time.perf_counter()
    idle = feed_poll()
    idle_poll_s = time.perf_counter() - started
    threads = [threading.Thread(target=lambda: (feed_poll(), connection.close())) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    feed_backfill(since=dt.datetime.combine(today - dt.timedelta(days=3), dt.time.min))
    rerun_events = feed_events.count() - before + idle.events
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT type, txn_id FROM outbox_events WHERE type = ANY(%s) AND txn_id IS NOT NULL"
            " GROUP BY type, txn_id HAVING count(*) > 1) d",
            [[t for t in FEED_EVENT_TYPES if t != "refund_request.received"]],
        )
        doubled = cursor.fetchone()[0]
    return {
        "rows": seeded.transactions,
        "backfill_s": round(backfill_s, 2),
        "backfill_rows_per_s": round(backfill.rows_changed / backfill_s),
        "backfill_events": backfill_events,
        "consumer_deliveries": deliveries,
        "consumer_catch_up_s": round(catch_up_s, 2),
        "consumer_deliveries_per_s": round(deliveries / catch_up_s) if catch_up_s else None,
        "baseline_backfill_rows_per_s": round(baseline.rows_changed / baseline_s),
        "bare_scan_rows_per_s": round(scan_rows / full_scan_s),
        "changed_rows": changed,
        "steady_events": steady_events,
        "poll_s": round(poll_s, 3),
        "bare_scan_s": round(scan_s, 3),
        "poll_to_scan_ratio": round(poll_s / scan_s, 3),
        "idle_poll_s": round(idle_poll_s, 3),
        "idle_poll_to_scan_ratio": round(idle_poll_s / scan_s, 3),
        "duplicate_events": rerun_events + doubled,
        "feed_errors": backfill.errors,
    }
