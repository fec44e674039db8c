"""Near-real-time rules on change-feed events (consumer "compliance").

A payment.succeeded event is checked at once against the transaction-level rules (high value,
cross-border) and the merchant-level ones that need no window arithmetic (merchant
flagged in the core, KYC not approved); the alert keys are the same as the monthly scan's,
so the scan later refreshes the evidence of the same alert instead of raising another.
Refund and chargeback events re-run the month's windowed scan for the merchants concerned.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from decimal import Decimal, InvalidOperation

from django.db import connection, transaction

from core_legacy.conversions import quantize_paise
from core_legacy.fields import to_core_naive
from core_legacy.sql import core_table
from enhancements.events import outbox

from ..models import MerchantKyc, Rule, RuleCode
from .scan import scan_month, upsert_candidates
from .sqlbits import aware_sql

CONSUMER = "compliance"
PATTERNS = ["payment.*", "refund.*", "chargeback.*"]
# Money received (the scan counts the same statuses); a generated challan is not yet paid.
PAYMENT_TYPES = {"payment.succeeded"}
log = logging.getLogger(__name__)


class BadEvent(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class PaymentFacts:
    txn_id: str
    client_id: int
    client_code: str
    amount: Decimal
    payment_mode: str
    trans_date: dt.datetime


def payment_facts(payload: dict) -> PaymentFacts:
    missing = [k for k in ("txn_id", "client_id", "client_code", "amount", "trans_date") if payload.get(k) in (None, "")]
    if missing:
        raise BadEvent(f"payload lacks {', '.join(missing)}")
    try:
        amount = quantize_paise(Decimal(str(payload["amount"])))
        trans_date = dt.datetime.fromisoformat(payload["trans_date"])
        client_id = int(payload["client_id"])
    except (InvalidOperation, ValueError, TypeError) as exc:
        raise BadEvent(f"unreadable payload value: {exc}") from exc
    if trans_date.tzinfo is None:
        raise BadEvent("trans_date must carry its UTC offset")
    return PaymentFacts(str(payload["txn_id"]), client_id, str(payload["client_code"]), amount,
                        str(payload.get("payment_mode") or ""), trans_date)


def _values(facts: PaymentFacts) -> dict:
    return {"txn_id": facts.txn_id, "client_id": facts.client_id, "client_code": facts.client_code,
            "amount": facts.amount, "mode": facts.payment_mode, "ts": facts.trans_date,
            "month_key": f"{to_core_naive(facts.trans_date):%Y-%m}",
            "month_start": to_core_naive(facts.trans_date).date().replace(day=1)}  # fmt: skip


_TXN_EVIDENCE = ("jsonb_build_object('txn_ids', jsonb_build_array(%(txn_id)s::text), 'amounts', "
                 "jsonb_build_array(%(amount)s::numeric::text), 'payment_mode', %(mode)s::text, 'trans_date', %(ts)s::timestamptz)")
_NEXT_MONTH = "(%(month_start)s::date + interval '1 month')"
_MONTH_WINDOW = f"%(month_key)s::text, {aware_sql('%(month_start)s::date::timestamp')}, {aware_sql(_NEXT_MONTH)}"


def check_payment(facts: PaymentFacts, rules: dict[str, Rule]) -> dict[str, int]:
    params = _values(facts)
    created: dict[str, int] = {}
    txn_head = ("SELECT %(code)s::text, 'TXN', %(txn_id)s::text, %(txn_id)s::text, 'txn', %(ts)s::timestamptz, %(ts)s::timestamptz, "
                "%(client_id)s::int, %(client_code)s::text, %(amount)s::numeric, 1")  # fmt: skip
    with connection.cursor() as cursor:
        if (r := rules.get(RuleCode.HIGH_VALUE)) and facts.amount >= r.threshold_amount:
            created[r.code], _ = upsert_candidates(cursor, f"{txn_head}, %(threshold)s::text, {_TXN_EVIDENCE}",
                {**params, "code": r.code, "threshold": f"amount >= Rs {r.threshold_amount}"}, refresh=False)  # fmt: skip
        if ((r := rules.get(RuleCode.CROSS_BORDER)) and facts.amount > r.threshold_amount
                and facts.payment_mode in r.params.get("payment_modes", ["International Card"])):
            created[r.code], _ = upsert_candidates(cursor, f"{txn_head}, %(threshold)s::text, {_TXN_EVIDENCE}",
                {**params, "code": r.code, "threshold": f"cross-border amount > Rs {r.threshold_amount}"}, refresh=False)  # fmt: skip
        merchant_head = f"SELECT %(code)s::text, 'MERCHANT', %(client_id)s::text, %(client_code)s::text, {_MONTH_WINDOW}, %(client_id)s::int, %(client_code)s::text, %(amount)s::numeric, 1"
        if (r := rules.get(RuleCode.MERCHANT_FLAGGED)) is not None:
            created[r.code], _ = upsert_candidates(cursor, f"""
                {merchant_head}, 'merchant disabled / not whitelisted / inactive',
                jsonb_build_object('txn_ids', jsonb_build_array(%(txn_id)s::text), 'amounts', jsonb_build_array(%(amount)s::numeric::text),
                                   'client_disable_flag', m.client_disable_flag, 'is_whitelisted', m.is_whitelisted, 'active', m.active)
                FROM {core_table('client_data_table')} m
                WHERE m.client_id = %(client_id)s AND (m.client_disable_flag IS TRUE OR m.is_whitelisted IS FALSE OR m.active IS FALSE)""",
                {**params, "code": r.code}, refresh=False)
        if (r := rules.get(RuleCode.KYC_NOT_APPROVED)) is not None:
            created[r.code], _ = upsert_candidates(cursor, f"""
                {merchant_head}, 'KYC status must be APPROVED',
                jsonb_build_object('txn_ids', jsonb_build_array(%(txn_id)s::text), 'amounts', jsonb_build_array(%(amount)s::numeric::text),
                                   'kyc_status', coalesce((SELECT k.status FROM {MerchantKyc._meta.db_table} k WHERE k.client_id = %(client_id)s), 'MISSING'))
                WHERE NOT EXISTS (SELECT 1 FROM {MerchantKyc._meta.db_table} k WHERE k.client_id = %(client_id)s AND k.status = 'APPROVED')""",
                {**params, "code": r.code}, refresh=False)
    return created


def consume(*, limit: int = 200) -> dict[str, int]:
    """Claim and process one batch of events. Returns counts (processed, failed, alerts, rescans)."""
    claimed = outbox.claim(consumer=CONSUMER, limit=limit)
    stats = {"processed": 0, "failed": 0, "alerts": 0, "rescans": 0}
    if not claimed:
        return stats
    rules = {r.code: r for r in Rule.objects.filter(enabled=True)}
    rescan: dict[dt.date, set[str]] = {}
    done, bad = [], []
    for item in claimed:
        event = item.event
        try:
            if event.type in PAYMENT_TYPES:
                with transaction.atomic():
                    stats["alerts"] += sum(check_payment(payment_facts(event.payload), rules).values())
            elif event.type.startswith(("refund.", "chargeback.")) and event.client_code:
                month = to_core_naive(event.occurred_at).date().replace(day=1)
                rescan.setdefault(month, set()).add(event.client_code)
            done.append(item.delivery_id)
        except BadEvent as exc:
            log.warning("compliance: event %s (%s) rejected: %s", event.id, event.type, exc)
            bad.append((item.delivery_id, str(exc)))
    for month, codes in sorted(rescan.items()):
        result = scan_month(month=month, client_codes=sorted(codes))
        stats["alerts"] += sum(result.created.values())
        stats["rescans"] += 1
    outbox.ack(consumer=CONSUMER, delivery_ids=done)
    for delivery_id, error in bad:
        outbox.fail(consumer=CONSUMER, delivery_ids=[delivery_id], error=error)
    stats["processed"], stats["failed"] = len(done), len(bad)
    return stats
