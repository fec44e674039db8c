"""Every read of the core that leaves core_legacy goes through here and returns read models."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from .models import ClientDataTable, RefundRequestFromClient, TransactionDetail
from .read_models import (
    MERCHANT_COLUMNS,
    REFUND_REQUEST_COLUMNS,
    TRANSACTION_COLUMNS,
    Merchant,
    MerchantRefundRequest,
    Transaction,
    merchant_from_row,
    refund_request_from_row,
    transaction_from_row,
)


def _column_values(queryset, columns: tuple[str, ...]):
    """`.values()` keyed by *column* names (model attributes differ for quoted columns)."""
    fields = {f.column: f.attname for f in queryset.model._meta.concrete_fields}
    attnames = [fields[c] for c in columns]
    for values in queryset.values_list(*attnames):
        yield dict(zip(columns, values, strict=True))


def transaction_get(*, txn_id: str) -> Transaction | None:
    rows = list(_column_values(TransactionDetail.objects.filter(txn_id=txn_id)[:2], TRANSACTION_COLUMNS))
    return transaction_from_row(rows[0]) if rows else None


def transaction_get_by_client_ref(*, client_code: str, client_txn_id: str) -> Transaction | None:
    qs = TransactionDetail.objects.filter(client_code=client_code, client_txn_id=client_txn_id).order_by("-trans_date")
    rows = list(_column_values(qs[:1], TRANSACTION_COLUMNS))
    return transaction_from_row(rows[0]) if rows else None


def transactions_between(
    *, start: dt.datetime, end: dt.datetime, client_code: str | None = None, chunk_size: int = 2000
) -> Iterator[Transaction]:
    """Transactions with start <= trans_date < end, streamed (server-side cursor)."""
    qs = TransactionDetail.objects.filter(trans_date__gte=start, trans_date__lt=end)
    if client_code is not None:
        qs = qs.filter(client_code=client_code)
    fields = {f.column: f.attname for f in TransactionDetail._meta.concrete_fields}
    attnames = [fields[c] for c in TRANSACTION_COLUMNS]
    for values in qs.order_by("trans_date", "txn_id").values_list(*attnames).iterator(chunk_size=chunk_size):
        yield transaction_from_row(dict(zip(TRANSACTION_COLUMNS, values, strict=True)))


def merchant_get(*, client_id: int | None = None, client_code: str | None = None) -> Merchant | None:
    if (client_id is None) == (client_code is None):
        raise ValueError("pass exactly one of client_id or client_code")
    qs = ClientDataTable.objects.filter(**({"client_id": client_id} if client_id is not None else {"client_code": client_code}))
    rows = list(_column_values(qs[:1], MERCHANT_COLUMNS))
    return merchant_from_row(rows[0]) if rows else None


def refund_request_get(*, refund_id: int) -> MerchantRefundRequest | None:
    rows = list(_column_values(RefundRequestFromClient.objects.filter(refund_id=refund_id), REFUND_REQUEST_COLUMNS))
    return refund_request_from_row(rows[0]) if rows else None
