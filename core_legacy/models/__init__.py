"""Unmanaged, read-only mirror of the payment core (see docs/legacy-schema.md)."""

from .base import CORE_ALIAS, LegacyModel
from .merchants import (
    ClientDataTable,
    ClientEpMappingsConfiguration,
    ClientPaymentMode,
    EndpointDataTable,
    FeeDataTable,
    PartnerBank,
    PaymentMode,
    PaymentStatusMaster,
)
from .operators import AdminUser
from .settlement import (
    LegacyTransactionReconTable,
    ReconciliationData,
    SettledTransactions,
    SettlementDataT,
    TransactionsToSettle,
)
from .transactions import GatewayResponse, RefundRequestFromClient, TransactionDetail

__all__ = [
    "CORE_ALIAS",
    "LegacyModel",
    "AdminUser",
    "ClientDataTable",
    "ClientEpMappingsConfiguration",
    "ClientPaymentMode",
    "EndpointDataTable",
    "FeeDataTable",
    "GatewayResponse",
    "LegacyTransactionReconTable",
    "PartnerBank",
    "PaymentMode",
    "PaymentStatusMaster",
    "ReconciliationData",
    "RefundRequestFromClient",
    "SettledTransactions",
    "SettlementDataT",
    "TransactionDetail",
    "TransactionsToSettle",
]
