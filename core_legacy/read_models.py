"""Clean read models of core rows, and the translation from raw rows into them.

Translation functions take a mapping of *column names* (as `.values()` or a raw
cursor returns them) so the ORM, set-based SQL and the change feed share one boundary.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from decimal import Decimal

from .conversions import (
    PaymentStatus,
    aware_from_core,
    clean_text,
    datetime_from_text,
    money_from_float,
    money_from_text,
    normalise_status,
)
from .errors import LegacyValueError


def mask(value: str | None, keep: int = 4) -> str | None:
    """Mask a card/VPA/mobile/email for logs, lists and exports: keep the last `keep` chars."""
    if value is None:
        return None
    text = str(value)
    if "@" in text:  # email or VPA: keep the domain/handle, hide the name
        name, _, domain = text.partition("@")
        return (name[:1] + "*" * max(len(name) - 1, 1)) + "@" + domain
    return "*" * max(len(text) - keep, 0) + text[-keep:]


@dataclasses.dataclass(frozen=True, slots=True)
class Transaction:
    txn_id: str
    trans_date: dt.datetime
    client_id: int | None
    client_code: str | None
    client_txn_id: str | None
    status: PaymentStatus
    status_conflict: bool
    status_word: str | None
    status_code: str | None
    paid_amount: Decimal | None
    act_amount: Decimal | None
    payee_amount: Decimal | None
    payment_mode: str | None
    payment_mode_id: int | None
    pg_name: str | None
    pg_txn_id: str | None
    bank_txn_id: str | None
    challan_no: str | None
    trans_complete_date: dt.datetime | None
    convcharges: Decimal | None
    ep_charges: Decimal | None
    gst: Decimal | None
    conv_gst: Decimal | None
    endpoint_gst: Decimal | None
    is_settled: bool
    settlement_date: dt.datetime | None
    settlement_amount: Decimal | None
    settlement_utr: str | None
    settlement_status: str | None
    refunded_amount: Decimal | None
    refund_amount: Decimal | None
    refund_initiated_on: dt.datetime | None
    refunded_date: dt.datetime | None
    refund_date: dt.datetime | None
    refund_status_code: str | None
    is_charge_back: bool
    charge_back_amount: Decimal | None
    charge_back_date: dt.datetime | None
    charge_back_status: str | None
    payee_email_masked: str | None
    payee_mobile_masked: str | None
    vpa_masked: str | None


# Columns of transaction_detail the read model needs (select only these: the table is
# 131 columns wide).
TRANSACTION_COLUMNS = (
    "txn_id", "trans_date", "client_id", "client_code", "client_txn_id", "status", "sabpaisa_resp_code",
    "paid_amount", "act_amount", "payee_amount", "payment_mode", "payment_mode_id", "pg_name", "pg_txn_id",
    "bank_txn_id", "challan_no", "trans_complete_date", "convcharges", "ep_charges", "gst", "conv_gst",
    "endpoint_gst", "is_settled", "settlement_date", "settlement_amount", "settlement_utr", "settlement_status",
    "refunded_amount", "refund_amount", "refund_initiated_on", "refunded_date", "refund_date",
    "refund_status_code", "is_charge_back", "charge_back_amount", "charge_back_date", "charge_back_status",
    "payee_email", "payee_mob", "vpa",
)  # fmt: skip


def transaction_from_row(row: Mapping) -> Transaction:
    table = "transaction_detail"
    key = (row["txn_id"], row["trans_date"])

    def money(column: str) -> Decimal | None:
        return money_from_float(row[column], table=table, key=key, column=column)

    if clean_text(row["txn_id"]) is None:
        raise LegacyValueError(table=table, key=key, column="txn_id", value=row["txn_id"], reason="empty key")
    status, conflict = normalise_status(row["status"], row["sabpaisa_resp_code"], table=table, key=key)
    return Transaction(
        txn_id=row["txn_id"].strip(),
        trans_date=aware_from_core(row["trans_date"]),
        client_id=row["client_id"],
        client_code=clean_text(row["client_code"]),
        client_txn_id=clean_text(row["client_txn_id"]),
        status=status,
        status_conflict=conflict,
        status_word=clean_text(row["status"]),
        status_code=clean_text(row["sabpaisa_resp_code"]),
        paid_amount=money("paid_amount"),
        act_amount=money("act_amount"),
        payee_amount=money("payee_amount"),
        payment_mode=clean_text(row["payment_mode"]),
        payment_mode_id=row["payment_mode_id"],
        pg_name=clean_text(row["pg_name"]),
        pg_txn_id=clean_text(row["pg_txn_id"]),
        bank_txn_id=clean_text(row["bank_txn_id"]),
        challan_no=clean_text(row["challan_no"]),
        trans_complete_date=aware_from_core(row["trans_complete_date"]),
        convcharges=money("convcharges"),
        ep_charges=money("ep_charges"),
        gst=money("gst"),
        conv_gst=money("conv_gst"),
        endpoint_gst=money("endpoint_gst"),
        is_settled=bool(row["is_settled"]),
        settlement_date=aware_from_core(row["settlement_date"]),
        settlement_amount=money("settlement_amount"),
        settlement_utr=clean_text(row["settlement_utr"]),
        settlement_status=clean_text(row["settlement_status"]),
        refunded_amount=money("refunded_amount"),
        refund_amount=money("refund_amount"),
        refund_initiated_on=aware_from_core(row["refund_initiated_on"]),
        refunded_date=aware_from_core(row["refunded_date"]),
        refund_date=datetime_from_text(row["refund_date"], table=table, key=key, column="refund_date"),
        refund_status_code=clean_text(row["refund_status_code"]),
        is_charge_back=bool(row["is_charge_back"]),
        charge_back_amount=money("charge_back_amount"),
        charge_back_date=aware_from_core(row["charge_back_date"]),
        charge_back_status=clean_text(row["charge_back_status"]),
        payee_email_masked=mask(clean_text(row["payee_email"])),
        payee_mobile_masked=mask(clean_text(row["payee_mob"])),
        vpa_masked=mask(clean_text(row["vpa"])),
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Merchant:
    client_id: int
    client_code: str | None
    client_name: str
    active: bool
    refunds_enabled: bool
    is_whitelisted: bool
    disabled: bool
    disabled_message: str | None
    risk_category: int | None
    client_mcc: str | None
    refund_day: int | None
    created_on: dt.datetime | None


MERCHANT_COLUMNS = (
    "client_id", "client_code", "client_name", "active", "refund_applicable", "is_refund_applicable",
    "is_whitelisted", "client_disable_flag", "client_disable_message", "risk_category", "client_mcc",
    "refund_day", "creation_date",
)  # fmt: skip

_TRUE_TEXT = {"y", "yes", "true", "1", "t"}
_FALSE_TEXT = {"n", "no", "false", "0", "f"}


def merchant_from_row(row: Mapping) -> Merchant:
    table, key = "client_data_table", row["client_id"]
    # Two flags say whether refunds are allowed: the boolean and a text twin ('Y'/'N').
    text_flag = clean_text(row["is_refund_applicable"])
    if text_flag is not None and text_flag.lower() not in _TRUE_TEXT | _FALSE_TEXT:
        raise LegacyValueError(
            table=table, key=key, column="is_refund_applicable", value=text_flag, reason="not a yes/no flag"
        )
    refunds_enabled = bool(row["refund_applicable"]) or (text_flag is not None and text_flag.lower() in _TRUE_TEXT)
    if text_flag is not None and text_flag.lower() in _FALSE_TEXT:
        refunds_enabled = False
    return Merchant(
        client_id=row["client_id"],
        client_code=clean_text(row["client_code"]),
        client_name=(row["client_name"] or "").strip(),
        active=bool(row["active"]),
        refunds_enabled=refunds_enabled,
        is_whitelisted=bool(row["is_whitelisted"]),
        disabled=bool(row["client_disable_flag"]),
        disabled_message=clean_text(row["client_disable_message"]),
        risk_category=row["risk_category"],
        client_mcc=clean_text(row["client_mcc"]),
        refund_day=row["refund_day"],
        created_on=aware_from_core(row["creation_date"]),
    )


@dataclasses.dataclass(frozen=True, slots=True)
class MerchantRefundRequest:
    """A row of refund_request_from_client. It has no status column: state is derived."""

    refund_id: int
    sp_txn_id: str | None
    client_code: str | None
    client_txn_id: str | None
    amount: Decimal | None
    message: str | None
    refund_init_date: dt.datetime | None
    refund_complete_date: dt.datetime | None
    refunded_bank_ref_id: str | None

    @property
    def state(self) -> str:
        if self.refund_complete_date is not None or self.refunded_bank_ref_id:
            return "COMPLETED"
        if self.refund_init_date is not None:
            return "INITIATED"
        return "REQUESTED"


REFUND_REQUEST_COLUMNS = (
    "refund_id", "sp_txn_id", "client_code", "client_txn_id", "amount", "message", "refund_init_date",
    "refund_complete_date", "refunded_bank_ref_id",
)  # fmt: skip


def refund_request_from_row(row: Mapping) -> MerchantRefundRequest:
    table, key = "refund_request_from_client", row["refund_id"]
    return MerchantRefundRequest(
        refund_id=row["refund_id"],
        sp_txn_id=clean_text(row["sp_txn_id"]),
        client_code=clean_text(row["client_code"]),
        client_txn_id=clean_text(row["client_txn_id"]),
        amount=money_from_text(row["amount"], table=table, key=key, column="amount"),
        message=clean_text(row["message"]),
        refund_init_date=aware_from_core(row["refund_init_date"]),
        refund_complete_date=aware_from_core(row["refund_complete_date"]),
        refunded_bank_ref_id=clean_text(row["refunded_bank_ref_id"]),
    )
