"""Worked examples on both sides of every statutory threshold, period and deadline."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from enhancements.regulatory import kyc, reporting


def test_ctr_is_strictly_above_ten_lakh():
    assert reporting.ctr_reportable(Decimal("1000000.01"))
    assert not reporting.ctr_reportable(Decimal("1000000.00"))


def test_cbwtr_is_strictly_above_five_lakh():
    assert reporting.cbwtr_reportable(Decimal("500000.01"))
    assert not reporting.cbwtr_reportable(Decimal("500000.00"))


@pytest.mark.parametrize("month, due", [
    (dt.date(2026, 10, 1), dt.date(2026, 11, 15)),
    (dt.date(2026, 10, 31), dt.date(2026, 11, 15)),
    (dt.date(2026, 12, 5), dt.date(2027, 1, 15)),
    (dt.date(2027, 1, 31), dt.date(2027, 2, 15)),
])  # fmt: skip
def test_monthly_reports_due_on_the_15th_of_the_following_month(month, due):
    assert reporting.monthly_report_due(month) == due


def test_str_due_seven_working_days_after_the_decision_skipping_weekends_and_holidays():
    friday = dt.date(2026, 11, 20)
    assert friday.weekday() == 4
    # Mon 23 .. Fri 27 (5), Mon 30 (6), Tue 1 Dec (7)
    assert reporting.str_due_date(friday) == dt.date(2026, 12, 1)
    # A holiday on Monday 23 pushes it one working day.
    assert reporting.str_due_date(friday, [dt.date(2026, 11, 23)]) == dt.date(2026, 12, 2)
    # Decided on a Monday: Tue..Fri (4), Mon..Wed (7)
    assert reporting.str_due_date(dt.date(2026, 11, 23)) == dt.date(2026, 12, 2)


def test_working_days_left_counts_down_and_goes_negative_when_overdue():
    due = dt.date(2026, 12, 1)  # Tuesday
    assert reporting.working_days_left(dt.date(2026, 11, 27), due) == 2  # Fri: Mon 30, Tue 1
    assert reporting.working_days_left(due, due) == 0
    assert reporting.working_days_left(dt.date(2026, 12, 2), due) == -1
    assert reporting.working_days_left(dt.date(2026, 12, 7), due) == -4  # Wed, Thu, Fri, Mon


@pytest.mark.parametrize("risk, years, due", [
    ("HIGH", 2, dt.date(2027, 3, 31)), ("MEDIUM", 8, dt.date(2033, 3, 31)), ("LOW", 10, dt.date(2035, 3, 31)),
])  # fmt: skip
def test_rekyc_periods_by_risk(risk, years, due):
    assert kyc.rekyc_years()[risk] == years
    assert kyc.rekyc_due(dt.date(2025, 3, 31), risk) == due


def test_rekyc_on_29_february_falls_on_28_february():
    assert kyc.rekyc_due(dt.date(2024, 2, 29), "HIGH") == dt.date(2026, 2, 28)


def test_rekyc_periods_are_configurable_but_never_laxer_than_rbi(settings):
    settings.COMPLIANCE_REKYC_YEARS = {"HIGH": 1}
    assert kyc.rekyc_due(dt.date(2026, 1, 10), "HIGH") == dt.date(2027, 1, 10)
    settings.COMPLIANCE_REKYC_YEARS = {"HIGH": 3}
    with pytest.raises(ImproperlyConfigured, match="HIGH"):
        kyc.rekyc_years()
