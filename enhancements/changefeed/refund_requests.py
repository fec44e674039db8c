"""New rows of refund_request_from_client -> refund_request.received.

The table has no creation time; refund_id is an increasing integer key. A poll reads the
rows above (highest refund_id announced - REFUND_ID_OVERLAP), so a row inserted late with
a lower id is still caught, anti-joined against RefundRequestSeen. A row with an
unparseable value is reported and retried on the next polls (not marked seen), so the
request is announced once the core row is corrected.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from django.conf import settings
from django.db import connection, transaction

from core_legacy.conversions import clean_text
from core_legacy.errors import LegacyValueError
from core_legacy.read_models import REFUND_REQUEST_COLUMNS, refund_request_from_row
from core_legacy.sql import core_table

from . import derive
from .models import FeedState, RefundRequestSeen
from enhancements.events.outbox import publish_many as publish_events
from .poller import LOCK_REFUND_REQUESTS, record_errors, resolve_errors

REFUND_REQUESTS = FeedState.Source.REFUND_REQUESTS.value


def refund_id_overlap() -> int:
    return int(getattr(settings, "CHANGEFEED_REFUND_ID_OVERLAP", 10_000))


@dataclasses.dataclass
class RefundReport:
    rows_changed: int = 0
    events: int = 0
    errors: int = 0
    last_refund_id: int | None = None


def _client_id(raw: object) -> int | None:
    # refund_request_from_client.client_id is text; a reference, so non-digits mean "unknown".
    text = clean_text(None if raw is None else str(raw))
    return int(text) if text is not None and text.isdigit() else None


def sync_refund_requests(*, baseline: bool, batch_size: int) -> RefundReport:
    report = RefundReport()
    now = dt.datetime.now(dt.timezone.utc)
    columns = ", ".join(f"r.{connection.ops.quote_name(c)}" for c in REFUND_REQUEST_COLUMNS)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_REFUND_REQUESTS])
        state = FeedState.objects.select_for_update().get(source=REFUND_REQUESTS)
        floor = -1 if state.last_refund_id is None else state.last_refund_id - refund_id_overlap()
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                SELECT {columns}, r.client_id FROM {core_table("refund_request_from_client")} r
                WHERE r.refund_id > %s
                  AND NOT EXISTS (SELECT 1 FROM {RefundRequestSeen._meta.db_table} s WHERE s.refund_id = r.refund_id)
                ORDER BY r.refund_id
                """,
                [floor],
            )
            while batch := cursor.fetchmany(batch_size):
                events, errors, seen = [], [], []
                for row in batch:
                    values = dict(zip(REFUND_REQUEST_COLUMNS, row[:-1]))
                    try:
                        request = refund_request_from_row(values)
                    except LegacyValueError as exc:
                        errors.append(exc)
                        continue
                    seen.append(request.refund_id)
                    if not baseline:
                        events.append(derive.refund_request_event(request, _client_id(row[-1]), now))
                RefundRequestSeen.objects.bulk_create(
                    [RefundRequestSeen(refund_id=i, seen_at=now) for i in seen], ignore_conflicts=True
                )
                report.events += publish_events(events)
                report.errors += record_errors(errors, now)
                resolve_errors(REFUND_REQUESTS, [str(i) for i in seen], now)
                report.rows_changed += len(batch)
                if seen:
                    report.last_refund_id = max(report.last_refund_id or 0, max(seen))
        if report.last_refund_id is not None and (state.last_refund_id or 0) < report.last_refund_id:
            FeedState.objects.filter(pk=state.pk).update(last_refund_id=report.last_refund_id)
    return report

