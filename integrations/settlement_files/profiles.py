"""Column-mapping profiles: how one source's file maps onto the canonical entry fields.

A profile is plain data (the reconciliation app stores it in the database and edits it in
the admin); `BUILTIN_PROFILES` are the shapes the project ships:

- generic-bank-csv: a bank MIS export, one line per collected transaction, dd/mm/YYYY
  dates, amounts in rupees, no fee columns (so no fee check is possible).
- gateway-fee-incl-gst: a gateway settlement report whose `fee` already includes GST and
  whose `tax` column is only the GST part of that fee (the shape of Razorpay's settlement
  recon report: entity_id, amount, fee, tax, settlement_utr, order_receipt, method,
  created_at ...). Amounts in paise, as that report's API gives them.
- gateway-fee-plus-tax: a gateway report with a separate service charge and service tax
  that are both deducted (the shape of Cashfree's settlement reconciliation report:
  "Order Id", "Transaction Amount", "Service Charge", "Service Tax", "Settlement Amount",
  "UTR" ...). Amounts in rupees.
- mt940-bank-statement: an MT940 statement; each credit line (:61:) is one settlement,
  its customer reference is the UTR, its bank reference the bank transaction id.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from .errors import ProfileError

# Canonical entry fields, in the order the parsers emit them (and the staging COPY takes them).
REFERENCE_FIELDS = ("txn_id", "bank_txn_id", "pg_txn_id", "client_txn_id", "settlement_utr")
MONEY_FIELDS = ("amount", "fee", "tax", "net")
ENTRY_FIELDS = (*REFERENCE_FIELDS, *MONEY_FIELDS, "has_fee_info", "txn_date", "status", "payment_mode")
MAPPABLE_FIELDS = (*REFERENCE_FIELDS, *MONEY_FIELDS, "txn_date", "status", "payment_mode")
FORMATS = ("csv", "xlsx", "mt940")
AMOUNT_UNITS = ("rupees", "paise")

# What file status words mean. SUCCESS: money moved; FAILED: it did not.
DEFAULT_STATUS_MAP = {
    "success": "SUCCESS", "successful": "SUCCESS", "captured": "SUCCESS", "settled": "SUCCESS",
    "paid": "SUCCESS", "processed": "SUCCESS", "credit": "SUCCESS", "cr": "SUCCESS", "0000": "SUCCESS",
    "failed": "FAILED", "failure": "FAILED", "fail": "FAILED", "declined": "FAILED", "reversed": "FAILED",
    "0300": "FAILED",
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class MappingProfile:
    name: str
    source: str
    file_format: str
    columns: Mapping[str, str] = dataclasses.field(default_factory=dict)  # canonical field -> header
    delimiter: str = ","
    encoding: str = "utf-8"
    date_formats: tuple[str, ...] = ("%Y-%m-%d",)
    amount_unit: str = "rupees"
    # True: `fee` already contains GST (net = amount - fee). False: net = amount - fee - tax.
    fee_includes_gst: bool = True
    status_map: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # MT940 only: which canonical reference the :61: customer reference fills.
    mt940_reference_field: str = "settlement_utr"

    def __post_init__(self) -> None:
        if self.file_format not in FORMATS:
            raise ProfileError(f"profile {self.name!r}: file_format must be one of {', '.join(FORMATS)}")
        if self.amount_unit not in AMOUNT_UNITS:
            raise ProfileError(f"profile {self.name!r}: amount_unit must be 'rupees' or 'paise'")
        unknown = sorted(set(self.columns) - set(MAPPABLE_FIELDS))
        if unknown:
            raise ProfileError(f"profile {self.name!r}: unknown canonical field(s) {', '.join(unknown)}")
        if self.file_format != "mt940":
            if not set(self.columns) & set(REFERENCE_FIELDS):
                raise ProfileError(f"profile {self.name!r}: map at least one reference column")
            if "amount" not in self.columns and "net" not in self.columns:
                raise ProfileError(f"profile {self.name!r}: map an 'amount' or 'net' column")
            if len(self.delimiter) != 1:
                raise ProfileError(f"profile {self.name!r}: the delimiter must be one character")
        elif self.mt940_reference_field not in REFERENCE_FIELDS:
            raise ProfileError(f"profile {self.name!r}: mt940_reference_field must be a reference field")
        if not self.date_formats:
            raise ProfileError(f"profile {self.name!r}: give at least one date format")
        try:
            "".encode(self.encoding)
        except LookupError as exc:
            raise ProfileError(f"profile {self.name!r}: unknown encoding {self.encoding!r}") from exc

    @property
    def has_fee_info(self) -> bool:
        return bool({"fee", "net"} & set(self.columns)) or False

    def status_of(self, text: str) -> str | None:
        key = text.strip().lower()
        if not key:
            return None
        mapped = {k.lower(): v for k, v in self.status_map.items()}.get(key) or DEFAULT_STATUS_MAP.get(key)
        return mapped

    @classmethod
    def from_dict(cls, data: Mapping) -> MappingProfile:
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise ProfileError(f"unknown profile setting(s): {', '.join(unknown)}")
        values = dict(data)
        if "date_formats" in values:
            values["date_formats"] = tuple(values["date_formats"])
        return cls(**values)


BUILTIN_PROFILES: dict[str, MappingProfile] = {
    p.name: p
    for p in (
        MappingProfile(
            name="generic-bank-csv", source="bank", file_format="csv",
            columns={"bank_txn_id": "Bank Ref No", "txn_id": "Merchant Txn Ref", "amount": "Amount",
                     "txn_date": "Txn Date", "status": "Status", "payment_mode": "Channel"},
            date_formats=("%d/%m/%Y", "%d/%m/%Y %H:%M:%S", "%d-%m-%Y"),
        ),
        MappingProfile(
            name="gateway-fee-incl-gst", source="gateway-a", file_format="csv",
            columns={"pg_txn_id": "entity_id", "client_txn_id": "order_receipt", "amount": "amount",
                     "fee": "fee", "tax": "tax", "settlement_utr": "settlement_utr", "txn_date": "created_at",
                     "status": "type", "payment_mode": "method"},
            date_formats=("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"), amount_unit="paise", fee_includes_gst=True,
            status_map={"payment": "SUCCESS", "refund": "FAILED"},
        ),
        MappingProfile(
            name="gateway-fee-plus-tax", source="gateway-b", file_format="csv",
            columns={"txn_id": "Order Id", "pg_txn_id": "Reference Id", "amount": "Transaction Amount",
                     "fee": "Service Charge", "tax": "Service Tax", "net": "Settlement Amount",
                     "settlement_utr": "UTR", "txn_date": "Transaction Time", "payment_mode": "Payment Mode",
                     "status": "Transaction Status"},
            date_formats=("%d-%m-%Y %H:%M:%S", "%d-%m-%Y", "%Y-%m-%d %H:%M:%S"), fee_includes_gst=False,
        ),
        MappingProfile(
            name="generic-bank-xlsx", source="bank", file_format="xlsx",
            columns={"bank_txn_id": "Bank Ref No", "txn_id": "Merchant Txn Ref", "amount": "Amount",
                     "txn_date": "Txn Date", "status": "Status", "payment_mode": "Channel"},
            date_formats=("%d/%m/%Y", "%Y-%m-%d"),
        ),
        MappingProfile(name="mt940-bank-statement", source="bank", file_format="mt940",
                       date_formats=("%Y-%m-%d",)),
    )
}  # fmt: skip
