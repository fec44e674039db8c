"""Validation of refund candidates against the core, set-based (1 row or 10,000 alike).

Five queries whatever the number of rows: client references -> txn_id, the transactions,
their merchants, the core's own refund counts, and this layer's refunds per txn. The
rules are then applied in Python, in file order, so rows of one batch for the same
transaction share its balance.

Balance of a transaction (documented in docs/refunds.md):
    available = paid - max(core refunded, our COMPLETED) - our reserved - earlier rows here
`core refunded` is max(refunded_amount, refund_amount) of transaction_detail (the gateway
writes both when it applies a refund, including ours, hence max() and not a sum: our
completed refunds are normally already inside the core figure). `our reserved` is every
in-flight refund of this layer when raising; when *approving*, only refunds already
approved (APPROVED/PROCESSING/UNKNOWN): the first approver of two competing requests wins.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal

from django.conf import settings
from django.db import connection, connections
from django.utils import timezone

from core_legacy.conversions import PaymentStatus, quantize_paise
from core_legacy.errors import LegacyValueError
from core_legacy.read_models import (
    MERCHANT_COLUMNS,
    TRANSACTION_COLUMNS,
    Merchant,
    Transaction,
    merchant_from_row,
    transaction_from_row,
)
from core_legacy.sql import core_table

from .models import IN_FLIGHT_STATES, RefundState

# Statuses whose money can still be (partly) refunded. REFUND_INITIATED / REFUNDED are
# included because a partial refund leaves a balance; the balance rule stops the rest.
REFUNDABLE_STATUSES = frozenset(
    {PaymentStatus.SUCCESS, PaymentStatus.SETTLED, PaymentStatus.REFUND_INITIATED, PaymentStatus.REFUNDED}
)
APPROVED_STATES = (RefundState.APPROVED, RefundState.PROCESSING, RefundState.UNKNOWN)


class Rule:
    BAD_INPUT = "bad_input"
    AMOUNT_NOT_POSITIVE = "amount_not_positive"
    TXN_NOT_FOUND = "txn_not_found"
    CORE_DATA_UNREADABLE = "core_data_unreadable"
    TXN_NOT_SUCCESSFUL = "txn_not_successful"
    REFUNDS_DISABLED = "merchant_refunds_disabled"
    TXN_TOO_OLD = "txn_too_old"
    MAX_REFUNDS = "max_refunds_per_txn"
    EXCEEDS_BALANCE = "amount_exceeds_balance"


def max_age_days() -> int:
    return int(getattr(settings, "REFUND_MAX_AGE_DAYS", 180))


def max_refunds_per_txn() -> int:
    return int(getattr(settings, "REFUND_MAX_PER_TXN", 5))


@dataclasses.dataclass
class Candidate:
    amount: Decimal | None
    txn_id: str | None = None
    client_code: str | None = None
    client_txn_id: str | None = None
    scope_client_id: int | None = None  # a merchant may only refund its own transactions
    pre_error: tuple[str, str] | None = None  # a parse error found before validation


@dataclasses.dataclass
class Verdict:
    rule: str | None
    message: str
    txn: Transaction | None = None
    merchant: Merchant | None = None

    @property
    def ok(self) -> bool:
        return self.rule is None


def _resolve_client_refs(candidates: Sequence[Candidate]) -> dict[tuple[str, str], str]:
    refs = {(c.client_code, c.client_txn_id) for c in candidates if not c.txn_id and c.client_code and c.client_txn_id}
    if not refs:
        return {}
    codes, ctids = zip(*refs, strict=True)
    with connections["core"].cursor() as cursor:
        cursor.execute(
            f"""SELECT DISTINCT ON (t.client_code, t.client_txn_id) t.client_code, t.client_txn_id, t.txn_id
                FROM {core_table("transaction_detail")} t
                JOIN unnest(%s::text[], %s::text[]) AS r(code, ctid) ON t.client_code = r.code AND t.client_txn_id = r.ctid
                ORDER BY t.client_code, t.client_txn_id, t.trans_date DESC""",
            [list(codes), list(ctids)],
        )
        return {(code, ctid): txn for code, ctid, txn in cursor.fetchall()}


def _fetch_core(txn_ids: list[str]):
    txns: dict[str, Transaction | LegacyValueError] = {}
    merchants: dict[int | str, Merchant] = {}
    core_counts: dict[str, int] = {}
    if not txn_ids:
        return txns, merchants, core_counts
    columns = ", ".join(f't."{c}"' for c in TRANSACTION_COLUMNS)
    with connections["core"].cursor() as cursor:
        cursor.execute(
            f"""SELECT DISTINCT ON (t.txn_id) {columns} FROM {core_table("transaction_detail")} t
                WHERE t.txn_id = ANY(%s) ORDER BY t.txn_id, t.trans_date DESC""",
            [txn_ids],
        )
        for values in cursor.fetchall():
            row = dict(zip(TRANSACTION_COLUMNS, values, strict=True))
            try:
                txns[row["txn_id"].strip()] = transaction_from_row(row)
            except LegacyValueError as exc:
                txns[str(row["txn_id"]).strip()] = exc
        ids = sorted({t.client_id for t in txns.values() if isinstance(t, Transaction) and t.client_id is not None})
        codes = sorted({t.client_code for t in txns.values() if isinstance(t, Transaction) and t.client_code})
        mcols = ", ".join(f'm."{c}"' for c in MERCHANT_COLUMNS)
        cursor.execute(
            f"SELECT {mcols} FROM {core_table('client_data_table')} m WHERE m.client_id = ANY(%s) OR m.client_code = ANY(%s)",
            [ids, codes],
        )
        for values in cursor.fetchall():
            merchant = merchant_from_row(dict(zip(MERCHANT_COLUMNS, values, strict=True)))
            merchants[merchant.client_id] = merchant
            if merchant.client_code:
                merchants[merchant.client_code] = merchant
        # Refunds the core itself has acted on (initiated or completed) count towards the limit.
        cursor.execute(
            f"""SELECT sp_txn_id, count(*) FROM {core_table("refund_request_from_client")}
                WHERE sp_txn_id = ANY(%s) AND (refund_init_date IS NOT NULL OR refund_complete_date IS NOT NULL
                      OR nullif(trim(refunded_bank_ref_id), '') IS NOT NULL)
                GROUP BY sp_txn_id""",
            [txn_ids],
        )
        core_counts = dict(cursor.fetchall())
    return txns, merchants, core_counts


def _ours(txn_ids: list[str], *, approving: bool, exclude_refund_ids: Sequence[int]):
    reserved_states = [str(s) for s in (APPROVED_STATES if approving else IN_FLIGHT_STATES)]
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT txn_id,
                      coalesce(sum(amount) FILTER (WHERE state = ANY(%s)), 0),
                      count(*) FILTER (WHERE state = ANY(%s)),
                      coalesce(sum(amount) FILTER (WHERE state = 'COMPLETED'), 0),
                      count(*) FILTER (WHERE state = 'COMPLETED')
               FROM refund_request WHERE txn_id = ANY(%s) AND NOT (id = ANY(%s))
               GROUP BY txn_id""",
            [reserved_states, reserved_states, txn_ids, list(exclude_refund_ids)],
        )
        return {r[0]: r[1:] for r in cursor.fetchall()}


def validate(candidates: Sequence[Candidate], *, approving: bool = False, exclude_refund_ids: Sequence[int] = (),
             now: dt.datetime | None = None) -> list[Verdict]:  # fmt: skip
    """One verdict per candidate, in order. Accepted rows reserve their amount for later rows."""
    now = now or timezone.now()
    refs = _resolve_client_refs(candidates)
    resolved = [c.txn_id or refs.get((c.client_code, c.client_txn_id)) for c in candidates]
    txn_ids = sorted({t for t in resolved if t})
    txns, merchants, core_counts = _fetch_core(txn_ids)
    ours = _ours(txn_ids, approving=approving, exclude_refund_ids=exclude_refund_ids)
    taken_amount: dict[str, Decimal] = defaultdict(Decimal)
    taken_count: dict[str, int] = defaultdict(int)
    oldest = now - dt.timedelta(days=max_age_days())
    limit = max_refunds_per_txn()
    verdicts = []
    for cand, txn_id in zip(candidates, resolved, strict=True):
        if cand.pre_error:
            verdicts.append(Verdict(*cand.pre_error))
            continue
        if cand.amount is None or cand.amount <= 0:
            verdicts.append(Verdict(Rule.AMOUNT_NOT_POSITIVE, f"amount must be greater than 0 (got {cand.amount})"))
            continue
        ref = txn_id or cand.txn_id or f"{cand.client_code}/{cand.client_txn_id}"
        txn = txns.get(txn_id) if txn_id else None
        if isinstance(txn, LegacyValueError):
            verdicts.append(Verdict(Rule.CORE_DATA_UNREADABLE, f"core row of {ref} cannot be read: {txn}"))
            continue
        if txn is None or (cand.scope_client_id is not None and txn.client_id != cand.scope_client_id):
            verdicts.append(Verdict(Rule.TXN_NOT_FOUND, f"transaction {ref} does not exist in the core"))
            continue
        if txn.status not in REFUNDABLE_STATUSES:
            verdicts.append(Verdict(Rule.TXN_NOT_SUCCESSFUL, f"transaction {ref} is {txn.status.value}; only "
                                    f"{', '.join(sorted(s.value for s in REFUNDABLE_STATUSES))} can be refunded", txn))  # fmt: skip
            continue
        merchant = merchants.get(txn.client_id) or merchants.get(txn.client_code)
        if merchant is None or not merchant.refunds_enabled:
            who = txn.client_code or txn.client_id
            why = "is not in client_data_table" if merchant is None else "has refunds disabled (refund_applicable)"
            verdicts.append(Verdict(Rule.REFUNDS_DISABLED, f"merchant {who} {why}", txn, merchant))
            continue
        if txn.trans_date < oldest:
            verdicts.append(Verdict(Rule.TXN_TOO_OLD, f"transaction {ref} is from {txn.trans_date.date()}, older than "
                                    f"the {max_age_days()}-day refund window", txn, merchant))  # fmt: skip
            continue
        reserved, reserved_n, completed, completed_n = ours.get(txn.txn_id, (Decimal(0), 0, Decimal(0), 0))
        used_n = max(core_counts.get(txn.txn_id, 0), completed_n) + reserved_n + taken_count[txn.txn_id]
        if used_n >= limit:
            verdicts.append(Verdict(Rule.MAX_REFUNDS, f"transaction {ref} already has {used_n} refunds (limit {limit})",
                                    txn, merchant))  # fmt: skip
            continue
        paid = txn.paid_amount if txn.paid_amount is not None else Decimal(0)
        core_refunded = max(txn.refunded_amount or Decimal(0), txn.refund_amount or Decimal(0))
        available = quantize_paise(paid - max(core_refunded, completed) - reserved - taken_amount[txn.txn_id])
        if cand.amount > available:
            verdicts.append(Verdict(Rule.EXCEEDS_BALANCE, f"amount {cand.amount} exceeds the refundable balance "
                                    f"{max(available, Decimal('0.00'))} of {ref} (paid {paid})", txn, merchant))  # fmt: skip
            continue
        taken_amount[txn.txn_id] += cand.amount
        taken_count[txn.txn_id] += 1
        verdicts.append(Verdict(None, "accepted", txn, merchant))
    return verdicts
