"""Entry points of the change feed: a poll (beat job), a backfill, a baseline.

These are deliberately NOT one @transaction.atomic each: the work is split into ranges of
trans_date and every range commits its events together with its bookkeeping (TxnState,
errors, watermark). A run that dies (database restart, killed worker) keeps what it
committed; the next run re-reads the remaining ranges, and the fingerprints plus stable
event keys make sure nothing is emitted twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.utils import timezone

from core_legacy.fields import from_core_naive, to_core_naive
from core_legacy.sql import core_is_same_database

from .models import FeedState
from .poller import TIME_COLUMNS, TRANSACTIONS, RangeReport, sync_transaction_range
from .refund_requests import RefundReport, sync_refund_requests

LOCK_POLL = 0x43_46_50_4F_4C  # "CFPOL": held for a whole beat poll, so polls do not pile up
_FAR_PAST = dt.datetime(1900, 1, 1, tzinfo=dt.timezone.utc)
_FAR_FUTURE = dt.datetime(9999, 1, 1, tzinfo=dt.timezone.utc)


def _setting(name: str, default):
    return getattr(settings, name, default)


@dataclasses.dataclass
class FeedRunResult:
    rows_changed: int = 0
    events: int = 0
    errors: int = 0
    ranges: int = 0
    seconds: float = 0.0
    watermark: dt.datetime | None = None
    skipped: bool = False

    def add(self, report: RangeReport | RefundReport) -> None:
        self.rows_changed += report.rows_changed
        self.events += report.events
        self.errors += report.errors


def feed_states_ensure() -> dict[str, FeedState]:
    lookback = int(_setting("CHANGEFEED_LOOKBACK_DAYS", 30))
    states = {}
    for source in FeedState.Source.values:
        states[source], _ = FeedState.objects.get_or_create(source=source, defaults={"lookback_days": lookback})
    return states


def _check_database() -> None:
    if not core_is_same_database():
        raise ImproperlyConfigured(
            "the change feed compares core rows with its fingerprints in SQL and needs the core tables in the "
            "same PostgreSQL database as the enhancement tables (CORE_DATABASE_URL == DATABASE_URL)"
        )


def _day_ranges(start: dt.datetime, hours: int) -> Iterator[tuple[dt.datetime, dt.datetime | None]]:
    """Naive India-time ranges [lo, hi) from start to a bit past now; the last one is open."""
    end = to_core_naive(timezone.now()) + dt.timedelta(hours=hours)
    lo = start
    while lo < end:
        hi = lo + dt.timedelta(hours=hours)
        yield lo, (hi if hi < end else None)
        lo = hi


def _sync_one_range(lo: dt.datetime, hi: dt.datetime | None, *, baseline: bool) -> RangeReport:
    where = "td.trans_date >= %(lo)s" + (" AND td.trans_date < %(hi)s" if hi is not None else "")
    return sync_transaction_range(
        where=where,
        params={"lo": lo, "hi": hi},
        state_lo=from_core_naive(lo),
        state_hi=from_core_naive(hi) if hi is not None else _FAR_FUTURE,
        baseline=baseline,
        batch_size=int(_setting("CHANGEFEED_BATCH_SIZE", 5000)),
        report=RangeReport(lo=lo, hi=hi),
    )


def _in_own_connection(lo: dt.datetime, hi: dt.datetime | None, *, baseline: bool) -> RangeReport:
    try:
        return _sync_one_range(lo, hi, baseline=baseline)
    finally:
        connection.close()  # this worker thread's own connection


def _sync_ranges(
    ranges: Iterator[tuple[dt.datetime, dt.datetime | None]],
    *,
    baseline: bool,
    result: FeedRunResult,
    on_range: Callable[[RangeReport], None] | None,
    after_commit: Callable[[dt.datetime | None], None] | None = None,
    workers: int = 1,
) -> None:
    """Process ranges in order; with workers > 1, that many ranges at once (each its own connection).

    Reports are consumed in range order, so after_commit always sees a contiguous prefix.
    """

    def account(report: RangeReport) -> None:
        result.ranges += 1
        result.add(report)
        if report.watermark is not None and (result.watermark is None or report.watermark > result.watermark):
            result.watermark = report.watermark
        if after_commit is not None:
            after_commit(report.hi)
        if on_range is not None:
            on_range(report)

    if workers <= 1:
        for lo, hi in ranges:
            account(_sync_one_range(lo, hi, baseline=baseline))
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="changefeed")
    try:
        futures = [pool.submit(_in_own_connection, lo, hi, baseline=baseline) for lo, hi in ranges]
        for future in futures:
            account(future.result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _old_row_sweep(state: FeedState, window_start: dt.datetime, *, baseline: bool, result: FeedRunResult) -> None:
    """Rows older than the window whose lifecycle time columns moved past the watermark."""
    overlap = dt.timedelta(hours=int(_setting("CHANGEFEED_WATERMARK_OVERLAP_HOURS", 24)))
    since = to_core_naive(state.watermark - overlap)
    times = ", ".join(f"td.{connection.ops.quote_name(c)}" for c in TIME_COLUMNS)
    report = sync_transaction_range(
        where=f"td.trans_date < %(lo)s AND GREATEST({times}) >= %(since)s",
        params={"lo": window_start, "since": since},
        state_lo=_FAR_PAST,
        state_hi=from_core_naive(window_start),
        baseline=baseline,
        batch_size=int(_setting("CHANGEFEED_BATCH_SIZE", 5000)),
        report=RangeReport(lo=None, hi=window_start),
    )
    result.add(report)
    FeedState.objects.filter(pk=state.pk).update(last_old_row_sweep_at=timezone.now())


def _run(
    body: Callable[[dict[str, FeedState], FeedRunResult], None], *, skip_if_running: bool
) -> FeedRunResult:
    _check_database()
    states = feed_states_ensure()
    result = FeedRunResult()
    locked = False
    if skip_if_running:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_POLL])
            locked = cursor.fetchone()[0]
        if not locked:
            result.skipped = True
            return result
    started_at, started = timezone.now(), time.perf_counter()
    FeedState.objects.filter(source__in=list(states)).update(last_poll_started_at=started_at)
    try:
        body(states, result)
    except Exception as exc:
        try:  # best effort: the database may be what failed
            connection.close_if_unusable_or_obsolete()
            FeedState.objects.filter(source__in=list(states)).update(
                last_poll_error=f"{type(exc).__name__}: {exc}"[:2000]
            )
        except Exception:
            pass
        raise
    finally:
        if locked:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_POLL])
            except Exception:  # the lock died with the connection
                pass
    result.seconds = time.perf_counter() - started
    FeedState.objects.filter(source__in=list(states)).update(
        last_success_started_at=started_at,
        last_poll_finished_at=timezone.now(),
        last_poll_seconds=round(result.seconds, 3),
        last_poll_rows_changed=result.rows_changed,
        last_poll_events=result.events,
        last_poll_error="",
    )
    return result


def _window_start(state: FeedState) -> dt.datetime:
    today = to_core_naive(timezone.now()).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - dt.timedelta(days=state.lookback_days)


def feed_poll(
    *,
    baseline: bool = False,
    skip_if_running: bool = False,
    on_range: Callable[[RangeReport], None] | None = None,
) -> FeedRunResult:
    """One poll: the look-back window, older rows whose time columns moved, new refund requests.

    baseline=True records the current state as known without emitting events (first
    deployment on a core with history). skip_if_running: return at once if another poll
    holds the poll lock (the beat job; a manual run waits range by range instead).
    """

    def body(states: dict[str, FeedState], result: FeedRunResult) -> None:
        state = states[TRANSACTIONS]
        window_start = _window_start(state)
        hours = int(_setting("CHANGEFEED_POLL_RANGE_HOURS", 24 * 7))
        _sync_ranges(_day_ranges(window_start, hours), baseline=baseline, result=result, on_range=on_range)
        sweep_every = dt.timedelta(seconds=int(_setting("CHANGEFEED_OLD_ROW_SWEEP_SECONDS", 300)))
        state.refresh_from_db()
        due = state.last_old_row_sweep_at is None or timezone.now() - state.last_old_row_sweep_at >= sweep_every
        if state.watermark is not None and due:
            _old_row_sweep(state, window_start, baseline=baseline, result=result)
        result.add(sync_refund_requests(baseline=baseline, batch_size=int(_setting("CHANGEFEED_BATCH_SIZE", 5000))))

    return _run(body, skip_if_running=skip_if_running)


def feed_backfill(
    *,
    since: dt.datetime,
    baseline: bool = False,
    on_range: Callable[[RangeReport], None] | None = None,
) -> FeedRunResult:
    """Everything with trans_date >= since (naive India time or aware), one day per transaction.

    An interrupted backfill with the same `since` resumes after the last committed day.
    """
    since = to_core_naive(since) if since.tzinfo is not None else since

    def body(states: dict[str, FeedState], result: FeedRunResult) -> None:
        state = states[TRANSACTIONS]
        start = since
        aware_since = from_core_naive(since)
        if state.backfill_since == aware_since and state.backfill_done_through is not None:
            start = max(since, to_core_naive(state.backfill_done_through))
        else:
            FeedState.objects.filter(pk=state.pk).update(backfill_since=aware_since, backfill_done_through=None)

        def committed(hi: dt.datetime | None) -> None:
            if hi is not None:
                FeedState.objects.filter(pk=state.pk).update(backfill_done_through=from_core_naive(hi))

        hours = int(_setting("CHANGEFEED_BACKFILL_RANGE_HOURS", 24))
        workers = int(_setting("CHANGEFEED_BACKFILL_WORKERS", 2))
        _sync_ranges(
            _day_ranges(start, hours),
            baseline=baseline,
            result=result,
            on_range=on_range,
            after_commit=committed,
            workers=workers,
        )
        result.add(sync_refund_requests(baseline=baseline, batch_size=int(_setting("CHANGEFEED_BATCH_SIZE", 5000))))
        FeedState.objects.filter(pk=state.pk).update(backfill_since=None)

    return _run(body, skip_if_running=False)
