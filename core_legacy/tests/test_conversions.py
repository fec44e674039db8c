"""The translation boundary: exact money, India time, one status, named errors."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core_legacy.conversions import (
    PaymentStatus,
    clean_text,
    datetime_from_text,
    money_from_float,
    money_from_text,
    normalise_status,
)
from core_legacy.errors import LegacyValueError
from core_legacy.fields import from_core_naive, to_core_naive

IST = ZoneInfo("Asia/Kolkata")
WHERE = {"table": "transaction_detail", "key": ("1", "2026-01-01"), "column": "paid_amount"}

paise = st.integers(min_value=-(10**13), max_value=10**13)


@given(paise)
def test_any_paisa_amount_stored_as_float8_reads_back_exactly(p):
    exact = Decimal(p) / 100
    assert money_from_float(float(exact), **WHERE) == exact


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12))
def test_float_money_is_always_two_places_and_within_half_a_paisa(value):
    result = money_from_float(value, **WHERE)
    assert result.as_tuple().exponent == -2
    assert abs(result - Decimal(repr(value))) <= Decimal("0.005")


def test_float_rounding_is_half_up_to_the_paisa():
    assert money_from_float(10.005, **WHERE) == Decimal("10.01")
    assert money_from_float(0.1 + 0.2, **WHERE) == Decimal("0.30")
    assert money_from_float(1234.56, **WHERE) == Decimal("1234.56")
    assert money_from_float(-2.675, **WHERE) == Decimal("-2.68")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_money_raises_a_named_error(bad):
    with pytest.raises(LegacyValueError) as info:
        money_from_float(bad, **WHERE)
    assert info.value.table == "transaction_detail" and info.value.column == "paid_amount"
    assert "transaction_detail[('1', '2026-01-01')].paid_amount" in str(info.value)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("500", Decimal("500.00")),
        (" 500 ", Decimal("500.00")),
        ("1,250.50", Decimal("1250.50")),
        ("1,00,000.00", Decimal("100000.00")),  # Indian digit grouping
        ("Rs. 100", Decimal("100.00")),
        ("₹ 99.999", Decimal("100.00")),
        ("-15.5", Decimal("-15.50")),
        (".5", Decimal("0.50")),
        ("NA", None),
        ("null", None),
        ("", None),
        (None, None),
    ],
)
def test_text_money_in_the_shapes_the_core_writes(text, expected):
    assert money_from_text(text, **WHERE) == expected


@pytest.mark.parametrize("bad", ["12abc", "1.2.3", "abc", "--5", "5-", "1e5", "½"])
def test_unparseable_text_money_names_row_and_column(bad):
    with pytest.raises(LegacyValueError, match="paid_amount"):
        money_from_text(bad, **WHERE)


@given(paise)
def test_text_money_round_trips_with_indian_grouping(p):
    exact = Decimal(p) / 100
    assert money_from_text(f"{exact:,.2f}", **WHERE) == exact


@pytest.mark.parametrize("huge", ["1" + "0" * 26, "9" * 40])
def test_amounts_too_large_for_paise_are_named_errors(huge):
    with pytest.raises(LegacyValueError, match="too large"):
        money_from_text(huge, **WHERE)
    with pytest.raises(LegacyValueError, match="too large"):
        money_from_float(float(huge), **WHERE)


@given(st.text())
def test_text_money_never_crashes_with_anything_but_a_named_error(text):
    try:
        result = money_from_text(text, **WHERE)
    except LegacyValueError:
        return
    assert result is None or result.as_tuple().exponent == -2


@given(st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2100, 1, 1)))
def test_core_naive_times_are_india_time_and_round_trip(naive):
    aware = from_core_naive(naive)
    assert aware.utcoffset() == dt.timedelta(hours=5, minutes=30)
    assert to_core_naive(aware.astimezone(dt.timezone.utc)) == naive


def test_java_style_text_dates_are_read_as_india_time():
    value = datetime_from_text("Wed Dec 21 16:26:28 IST 2022", **WHERE)
    assert value == dt.datetime(2022, 12, 21, 16, 26, 28, tzinfo=IST)
    assert value.astimezone(dt.timezone.utc).hour == 10
    assert datetime_from_text("21-12-2022", **WHERE) == dt.datetime(2022, 12, 21, tzinfo=IST)
    assert datetime_from_text("NA", **WHERE) is None
    with pytest.raises(LegacyValueError, match="not a date"):
        datetime_from_text("yesterday", **WHERE)


@pytest.mark.parametrize(
    "word, code, expected, conflict",
    [
        ("SUCCESS", "0000", PaymentStatus.SUCCESS, False),
        ("success", "0000", PaymentStatus.SUCCESS, False),
        ("Successful", None, PaymentStatus.SUCCESS, False),
        ("FAILED", "0300", PaymentStatus.FAILED, False),
        ("SUCCESS", "0300", PaymentStatus.FAILED, True),  # the code decides, the conflict is flagged
        ("FAILED", "0000", PaymentStatus.SUCCESS, True),
        (None, "0800", PaymentStatus.SETTLED, False),
        ("NA", "0700", PaymentStatus.REFUNDED, False),
        ("Challan Generated", None, PaymentStatus.CHALLAN_GENERATED, False),
        ("REFUND_INITIATED", "600", PaymentStatus.REFUND_INITIATED, False),  # unpadded code
        ("ABORTED", "9999", PaymentStatus.ABORTED, False),  # unknown code: the word decides
    ],
)
def test_one_status_from_word_and_code(word, code, expected, conflict):
    assert normalise_status(word, code, table="transaction_detail", key="T") == (expected, conflict)


def test_status_neither_word_nor_code_known_is_a_named_error():
    with pytest.raises(LegacyValueError) as info:
        normalise_status("WEIRD", "XYZ", table="transaction_detail", key="T1")
    assert info.value.key == "T1" and info.value.column == "sabpaisa_resp_code"
    with pytest.raises(LegacyValueError, match=r"\.status"):
        normalise_status("WEIRD", None, table="transaction_detail", key="T1")


@given(st.one_of(st.none(), st.text()), st.one_of(st.none(), st.text()))
def test_status_normalisation_never_guesses(word, code):
    try:
        status, _ = normalise_status(word, code, table="t", key="k")
    except LegacyValueError:
        return
    assert isinstance(status, PaymentStatus)


def test_placeholders_read_as_absent():
    assert clean_text(" NA ") is None and clean_text("null") is None and clean_text(" x ") == "x"
