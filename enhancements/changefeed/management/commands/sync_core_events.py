"""Poll the core once, backfill from a date, or show the feed's status.

    manage.py sync_core_events                       # one poll (what the beat job runs)
    manage.py sync_core_events --backfill --since 2026-01-01
    manage.py sync_core_events --baseline [--backfill --since DATE]   # remember state, emit nothing
    manage.py sync_core_events --status
"""

from __future__ import annotations

import datetime as dt
import json
import time

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.core.serializers.json import DjangoJSONEncoder

from enhancements.changefeed.selectors import feed_status
from enhancements.changefeed.services import feed_backfill, feed_poll


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--since {value!r} is not a date (YYYY-MM-DD, India calendar day)") from exc


class Command(BaseCommand):
    help = "Turn core changes into outbox events (one poll, a backfill, or status)."

    def add_arguments(self, parser):
        parser.add_argument("--backfill", action="store_true", help="process every row with trans_date >= --since")
        parser.add_argument("--since", help="first India calendar day of the backfill (YYYY-MM-DD)")
        parser.add_argument("--baseline", action="store_true", help="record the current state; emit no events")
        parser.add_argument("--status", action="store_true", help="print the feed status as JSON and exit")

    def handle(self, *args, backfill, since, baseline, status, **options):
        if status:
            if backfill or since or baseline:
                raise CommandError("--status takes no other option")
            self.stdout.write(json.dumps(feed_status(), cls=DjangoJSONEncoder, indent=2))
            return
        if backfill != bool(since):
            raise CommandError("--backfill needs --since DATE, and --since is only for --backfill")
        started = time.perf_counter()
        done = {"rows": 0, "ranges": 0}

        def progress(report) -> None:
            done["rows"] += report.rows_changed
            done["ranges"] += 1
            rate = done["rows"] / max(time.perf_counter() - started, 1e-6)
            until = report.hi.strftime("%Y-%m-%d %H:%M") if report.hi else "now"
            self.stderr.write(
                f"[sync_core_events] range {done['ranges']} up to {until}: {report.rows_changed:,} changed rows, "
                f"{report.events:,} events, {report.errors} errors ({done['rows']:,} rows, {rate:,.0f} rows/s)"
            )

        try:
            if backfill:
                since_day = _date(since)
                if since_day > dt.date.today() + dt.timedelta(days=1):
                    raise CommandError(f"--since {since_day} is in the future")
                result = feed_backfill(
                    since=dt.datetime.combine(since_day, dt.time.min), baseline=baseline, on_range=progress
                )
            else:
                result = feed_poll(baseline=baseline, on_range=progress)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        verb = "recorded (baseline, no events)" if baseline else "published"
        self.stdout.write(
            f"{result.rows_changed:,} changed rows, {result.events:,} events {verb}, {result.errors} feed errors, "
            f"{result.ranges} ranges in {result.seconds:.1f}s; watermark {result.watermark or '-'}"
        )
