"""From a clean core read model to the lifecycle facts it shows, and their events.

Pure functions. A transaction row shows a set of facts (it succeeded, it was settled with
a UTR, a refund was initiated...). Each fact has one bit in TxnState.events_mask and one
stable event key, so a fact becomes exactly one event however often the row is re-read.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from core_legacy.conversions import PaymentStatus
from core_legacy.read_models import MerchantRefundRequest, Transaction
from enhancements.events.outbox import NewEvent

# One bit per lifecycle fact of a transaction (stored in TxnState.events_mask: never renumber).
PAYMENT_INITIATED = "payment.initiated"
PAYMENT_SUCCEEDED = "payment.succeeded"
PAYMENT_FAILED = "payment.failed"
PAYMENT_ABORTED = "payment.aborted"
PAYMENT_CHALLAN_GENERATED = "payment.challan_generated"
SETTLEMENT_SETTLED = "settlement.settled"
REFUND_CORE_INITIATED = "refund.core_initiated"
REFUND_CORE_COMPLETED = "refund.core_completed"
CHARGEBACK_RAISED = "chargeback.raised"
CHARGEBACK_RESOLVED = "chargeback.resolved"
REFUND_REQUEST_RECEIVED = "refund_request.received"

BITS = {
    PAYMENT_INITIATED: 1 << 0,
    PAYMENT_SUCCEEDED: 1 << 1,
    PAYMENT_FAILED: 1 << 2,
    PAYMENT_ABORTED: 1 << 3,
    PAYMENT_CHALLAN_GENERATED: 1 << 4,
    SETTLEMENT_SETTLED: 1 << 5,
    REFUND_CORE_INITIATED: 1 << 6,
    REFUND_CORE_COMPLETED: 1 << 7,
    CHARGEBACK_RAISED: 1 << 8,
    CHARGEBACK_RESOLVED: 1 << 9,
}
FEED_EVENT_TYPES = (*BITS, REFUND_REQUEST_RECEIVED)

# A successful payment stays successful when the core later moves its status on.
_SUCCEEDED = {PaymentStatus.SUCCESS, PaymentStatus.SETTLED, PaymentStatus.REFUND_INITIATED, PaymentStatus.REFUNDED}
_STATUS_EVENT = {
    PaymentStatus.INITIATED: PAYMENT_INITIATED,
    PaymentStatus.FAILED: PAYMENT_FAILED,
    PaymentStatus.ABORTED: PAYMENT_ABORTED,
    PaymentStatus.CHALLAN_GENERATED: PAYMENT_CHALLAN_GENERATED,
}
# charge_back_status words that close a chargeback (the core writes free text).
CHARGEBACK_CLOSED_WORDS = frozenset(
    {"RESOLVED", "ACCEPTED", "CLOSED", "WON", "LOST", "REJECTED", "REVERSED", "DEBITED", "CREDITED"}
)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _money(value: Decimal | None) -> str | None:
    return str(value) if value is not None else None


def transaction_facts(t: Transaction) -> int:
    """The bitmask of lifecycle facts the row shows now."""
    mask = 0
    if t.status in _SUCCEEDED:
        mask |= BITS[PAYMENT_SUCCEEDED]
    elif t.status in _STATUS_EVENT:
        mask |= BITS[_STATUS_EVENT[t.status]]
    # "Settled" means with a UTR: that is what merchants and reconciliation match on.
    if t.settlement_utr and (t.is_settled or t.status is PaymentStatus.SETTLED):
        mask |= BITS[SETTLEMENT_SETTLED]
    if t.refund_initiated_on is not None or t.status in (PaymentStatus.REFUND_INITIATED, PaymentStatus.REFUNDED):
        mask |= BITS[REFUND_CORE_INITIATED]
    if t.refunded_date is not None or t.status is PaymentStatus.REFUNDED:
        mask |= BITS[REFUND_CORE_COMPLETED]
    if t.is_charge_back or t.charge_back_date is not None:
        mask |= BITS[CHARGEBACK_RAISED]
        if t.charge_back_status and t.charge_back_status.upper().replace(" ", "_") in CHARGEBACK_CLOSED_WORDS:
            mask |= BITS[CHARGEBACK_RESOLVED]
    return mask


def _base_payload(t: Transaction) -> dict:
    return {
        "txn_id": t.txn_id,
        "client_id": t.client_id,
        "client_code": t.client_code,
        "client_txn_id": t.client_txn_id,
        "trans_date": _iso(t.trans_date),
        "status": t.status.value,
        "status_code": t.status_code,
        "status_conflict": t.status_conflict,
        "amount": _money(t.act_amount),
        "paid_amount": _money(t.paid_amount),
        "payment_mode": t.payment_mode,
        "payment_mode_id": t.payment_mode_id,
        "pg_name": t.pg_name,
        "bank_txn_id": t.bank_txn_id,
        "trans_complete_date": _iso(t.trans_complete_date),
    }


def _specific(event_type: str, t: Transaction, observed_at: dt.datetime) -> tuple[dt.datetime, dict]:
    """(occurred_at, extra payload) of one fact. occurred_at falls back to when the feed saw it."""
    completed = t.trans_complete_date or t.trans_date
    if event_type == PAYMENT_INITIATED:
        return t.trans_date, {}
    if event_type == PAYMENT_SUCCEEDED:
        fees = {"convcharges": _money(t.convcharges), "ep_charges": _money(t.ep_charges), "gst": _money(t.gst)}
        return completed, fees
    if event_type in (PAYMENT_FAILED, PAYMENT_ABORTED):
        return completed, {}
    if event_type == PAYMENT_CHALLAN_GENERATED:
        return completed, {"challan_no": t.challan_no}
    if event_type == SETTLEMENT_SETTLED:
        return t.settlement_date or observed_at, {
            "settlement_amount": _money(t.settlement_amount),
            "settlement_utr": t.settlement_utr,
            "settlement_date": _iso(t.settlement_date),
            "settlement_status": t.settlement_status,
        }
    if event_type == REFUND_CORE_INITIATED:
        return t.refund_initiated_on or observed_at, {
            "refund_amount": _money(t.refund_amount),
            "refund_initiated_on": _iso(t.refund_initiated_on),
            "refund_status_code": t.refund_status_code,
        }
    if event_type == REFUND_CORE_COMPLETED:
        refunded_on = t.refunded_date or t.refund_date
        return refunded_on or observed_at, {
            "refunded_amount": _money(t.refunded_amount if t.refunded_amount is not None else t.refund_amount),
            "refunded_date": _iso(refunded_on),
            "refund_status_code": t.refund_status_code,
        }
    if event_type in (CHARGEBACK_RAISED, CHARGEBACK_RESOLVED):
        # The core keeps no resolution date: a resolution is dated when the feed saw it.
        occurred = t.charge_back_date if event_type == CHARGEBACK_RAISED else observed_at
        return occurred or observed_at, {
            "charge_back_amount": _money(t.charge_back_amount),
            "charge_back_date": _iso(t.charge_back_date),
            "charge_back_status": t.charge_back_status,
        }
    raise ValueError(f"not a transaction event type: {event_type}")


def transaction_events(t: Transaction, new_mask: int, observed_at: dt.datetime) -> list[NewEvent]:
    """Events for the facts in new_mask (those not emitted before)."""
    if not new_mask:
        return []
    base = _base_payload(t)
    events = []
    for event_type, bit in BITS.items():
        if new_mask & bit:
            occurred_at, extra = _specific(event_type, t, observed_at)
            events.append(
                NewEvent(
                    event_key=f"{event_type}:{t.txn_id}",
                    type=event_type,
                    payload={**base, **extra},
                    occurred_at=occurred_at,
                    client_id=t.client_id,
                    client_code=t.client_code,
                    txn_id=t.txn_id,
                )
            )
    return events


def refund_request_event(r: MerchantRefundRequest, client_id: int | None, observed_at: dt.datetime) -> NewEvent:
    payload = {
        "refund_id": r.refund_id,
        "txn_id": r.sp_txn_id,
        "client_id": client_id,
        "client_code": r.client_code,
        "client_txn_id": r.client_txn_id,
        "amount": _money(r.amount),
        "message": r.message,
        "state": r.state,
        "refund_init_date": _iso(r.refund_init_date),
        "refund_complete_date": _iso(r.refund_complete_date),
        "refunded_bank_ref_id": r.refunded_bank_ref_id,
    }
    return NewEvent(
        event_key=f"{REFUND_REQUEST_RECEIVED}:{r.refund_id}",
        type=REFUND_REQUEST_RECEIVED,
        payload=payload,
        occurred_at=observed_at,  # the table records no request time
        client_id=client_id,
        client_code=r.client_code,
        txn_id=r.sp_txn_id,
    )
