"""Selectors turn real core rows (quirks and all) into clean read models."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from core_legacy import selectors
from core_legacy.conversions import PaymentStatus
from core_legacy.errors import LegacyValueError

IST = ZoneInfo("Asia/Kolkata")
pytestmark = pytest.mark.django_db(databases=["default", "core"])


def test_transaction_read_model_is_clean(core_rows):
    core_rows.transaction(
        txn_id="202611200000000001", trans_date=dt.datetime(2026, 11, 20, 16, 26, 28), client_code=" TC1 ",
        status="success", sabpaisa_resp_code="0000", paid_amount=1234.56, convcharges=24.69, gst=4.44,
        payee_email="priya.sharma@example.com", payee_mob="9876543210", vpa="priya@okhdfcbank",
        refund_date="21-11-2026", udf20="NA", settlement_utr="null",
    )  # fmt: skip
    txn = selectors.transaction_get(txn_id="202611200000000001")
    assert txn.trans_date == dt.datetime(2026, 11, 20, 16, 26, 28, tzinfo=IST)
    assert txn.trans_date.astimezone(dt.timezone.utc).hour == 10  # 16:26 IST = 10:56 UTC
    assert txn.paid_amount == Decimal("1234.56") and isinstance(txn.paid_amount, Decimal)
    assert txn.convcharges == Decimal("24.69") and txn.gst == Decimal("4.44")
    assert txn.status is PaymentStatus.SUCCESS and not txn.status_conflict
    assert txn.client_code == "TC1" and txn.settlement_utr is None
    assert txn.refund_date == dt.datetime(2026, 11, 21, tzinfo=IST)
    assert txn.payee_email_masked == "p***********@example.com"
    assert txn.payee_mobile_masked == "******3210" and txn.vpa_masked.endswith("@okhdfcbank")
    assert "9876543210" not in repr(txn)


def test_status_disagreement_is_resolved_by_code_and_flagged(core_rows):
    core_rows.transaction(txn_id="T-CONFLICT", status="SUCCESS", sabpaisa_resp_code="0300")
    txn = selectors.transaction_get(txn_id="T-CONFLICT")
    assert txn.status is PaymentStatus.FAILED and txn.status_conflict


def test_bad_legacy_value_names_table_key_and_column(core_rows):
    core_rows.transaction(txn_id="T-BAD", refund_date="next tuesday")
    with pytest.raises(LegacyValueError) as info:
        selectors.transaction_get(txn_id="T-BAD")
    assert (info.value.table, info.value.key[0], info.value.column) == ("transaction_detail", "T-BAD", "refund_date")
    assert info.value.value == "next tuesday"


def test_filter_by_aware_time_compares_in_india_time(core_rows):
    core_rows.transaction(txn_id="T-EARLY", trans_date=dt.datetime(2026, 11, 20, 4, 0))  # 04:00 IST = 22:30 UTC the day before
    core_rows.transaction(txn_id="T-LATE", trans_date=dt.datetime(2026, 11, 20, 23, 0))
    start = dt.datetime(2026, 11, 20, tzinfo=IST)
    found = [t.txn_id for t in selectors.transactions_between(start=start, end=start + dt.timedelta(days=1))]
    assert found == ["T-EARLY", "T-LATE"]
    utc_start = dt.datetime(2026, 11, 19, 23, 0, tzinfo=dt.timezone.utc)  # = 04:30 IST on the 20th
    found = [t.txn_id for t in selectors.transactions_between(start=utc_start, end=utc_start + dt.timedelta(hours=12))]
    assert found == []
    found = [t.txn_id for t in selectors.transactions_between(start=utc_start, end=utc_start + dt.timedelta(hours=24))]
    assert found == ["T-LATE"]


def test_client_ref_lookup_and_merchant_flags(core_rows):
    core_rows.merchant(client_id=77, client_code="MER77", refund_applicable=True, is_refund_applicable="N")
    core_rows.merchant(client_id=78, client_code="MER78", refund_applicable=False, is_refund_applicable="Y")
    core_rows.transaction(client_code="MER77", client_txn_id="ORDER-1", txn_id="T-REF")
    assert selectors.transaction_get_by_client_ref(client_code="MER77", client_txn_id="ORDER-1").txn_id == "T-REF"
    assert selectors.merchant_get(client_code="MER77").refunds_enabled is False  # the text flag says no
    assert selectors.merchant_get(client_id=78).refunds_enabled is True
    assert selectors.merchant_get(client_code="NOPE") is None


def test_merchant_refund_request_state_is_derived_and_text_amount_parsed(core_rows):
    core_rows.refund_request(refund_id=1, amount=" 1,250.00 ")
    core_rows.refund_request(refund_id=2, amount="99", refund_init_date=dt.datetime(2026, 11, 1, 10, 0))
    core_rows.refund_request(refund_id=3, amount="10", refunded_bank_ref_id="RRN1")
    first = selectors.refund_request_get(refund_id=1)
    assert first.amount == Decimal("1250.00") and first.state == "REQUESTED"
    assert selectors.refund_request_get(refund_id=2).state == "INITIATED"
    assert selectors.refund_request_get(refund_id=3).state == "COMPLETED"
