"""Refund requests the core received itself (refund_request_from_client), via the change feed.

The change feed publishes `refund_request.received` for every new core row; this
consumer turns each one that is still merely REQUESTED into a refund request of this
layer (source CORE), so it goes through the same validation and approvals. Rows the
core already acted on (initiated/completed, e.g. written by the gateway for one of our
own refunds) are skipped. A row that fails validation is kept as a REJECTED refund with
the rule, so operators see why it was not taken.
"""

from __future__ import annotations

import datetime as dt
import logging

from core_legacy.errors import LegacyValueError
from core_legacy.selectors import refund_request_get
from enhancements.events import outbox

from .errors import RefundRefused
from .models import RefundRequest, RefundSource
from .services import refund_create, refund_record_refused

log = logging.getLogger(__name__)

CONSUMER = "refunds"
EVENT_TYPES = ["refund_request.received"]


def _core_refund_id(payload: dict) -> int | None:
    for key in ("refund_id", "core_refund_id", "id"):
        value = payload.get(key)
        if value is not None:
            try:
                return int(value)
            except (TypeError, ValueError):
                return None
    return None


def intake_one(payload: dict) -> str:
    """Handle one event payload; returns what happened (for logs and tests)."""
    refund_id = _core_refund_id(payload)
    if refund_id is None:
        raise ValueError(f"event payload has no refund_id: {payload}")
    if RefundRequest.objects.filter(core_refund_id=refund_id).exists():
        return "duplicate"
    try:
        row = refund_request_get(refund_id=refund_id)
    except LegacyValueError as exc:
        refund_record_refused(source=RefundSource.CORE, amount=None, rule="core_data_unreadable", message=str(exc),
                              actor_label="core", core_refund_id=refund_id)  # fmt: skip
        return "refused"
    if row is None:
        raise ValueError(f"refund_request_from_client {refund_id} does not exist")
    if row.state != "REQUESTED":
        return f"skipped ({row.state} at the core)"
    label = f"core:{row.client_code or '?'}"
    try:
        refund_create(amount=row.amount if row.amount is not None else "", source=RefundSource.CORE,
                      reason=row.message or "requested through the core", txn_id=row.sp_txn_id,
                      client_code=row.client_code, client_txn_id=row.client_txn_id, actor_label=label,
                      core_refund_id=refund_id)  # fmt: skip
        return "created"
    except RefundRefused as exc:
        refund_record_refused(source=RefundSource.CORE, amount=row.amount, rule=exc.rule, message=exc.message,
                              txn_id=row.sp_txn_id or "", client_code=row.client_code or "",
                              client_txn_id=row.client_txn_id or "", actor_label=label, core_refund_id=refund_id)  # fmt: skip
        return "refused"


def consume(*, limit: int = 100) -> dict[str, int]:
    """Claim and handle a batch of events. Returns counts per outcome."""
    counts: dict[str, int] = {}
    for claimed in outbox.claim(consumer=CONSUMER, limit=limit, event_types=EVENT_TYPES):
        try:
            outcome = intake_one(claimed.event.payload)
        except ValueError as exc:
            outbox.fail(consumer=CONSUMER, delivery_ids=[claimed.delivery_id], error=str(exc))
            outcome = "failed"
        except Exception as exc:  # database hiccup etc.: try again later, don't lose it
            log.exception("refund intake of event %s", claimed.event.id)
            outbox.retry(consumer=CONSUMER, delivery_ids=[claimed.delivery_id], delay=dt.timedelta(minutes=1), error=str(exc))
            outcome = "retry"
        else:
            outbox.ack(consumer=CONSUMER, delivery_ids=[claimed.delivery_id])
        counts[outcome.split(" ")[0]] = counts.get(outcome.split(" ")[0], 0) + 1
    return counts
