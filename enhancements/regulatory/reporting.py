"""FIU-IND reporting thresholds and due dates under the PMLA (CTR, CBWTR, STR).

Sources:
- Prevention of Money-laundering Act, 2002 (PMLA), s.12 (reporting entities must
  furnish information on prescribed transactions to the Director, FIU-IND).
- Prevention of Money-laundering (Maintenance of Records) Rules, 2005, as amended:
  Rule 3(1)(B) cash transactions above Rs 10 lakh, or integrally connected cash
  transactions valued below Rs 10 lakh each whose monthly total exceeds Rs 10 lakh;
  Rule 3(1)(D) suspicious transactions; Rule 3(1)(F) cross-border wire transfers above
  Rs 5 lakh where either the origin or the destination is in India;
  Rule 8(1): CTR and CBWTR for a month are furnished by the 15th day of the
  succeeding month; Rule 8(2): STR not later than seven working days on being
  satisfied that the transaction is suspicious.
- RBI Master Direction - Know Your Customer (KYC) Direction, 2016
  (DBR.AML.BC.No.81/14.01.001/2015-16, as updated), Chapter VII "Reporting
  Requirements to FIU-India", which applies these rules to regulated entities.

Every figure the compliance app uses for these reports comes from here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from decimal import Decimal

PMLA = "Prevention of Money-laundering Act, 2002, s.12"
PML_RULES = "PML (Maintenance of Records) Rules, 2005 (as amended)"
RBI_KYC_MD = "RBI Master Direction - KYC Direction, 2016 (as updated), Chapter VII"

# Strictly "exceeding": a cash total of exactly Rs 10,00,000 is not reportable.
CTR_THRESHOLD = Decimal("1000000.00")
CTR_SOURCE = f"{PML_RULES}, Rule 3(1)(B); {RBI_KYC_MD}"
# Cross-border wire transfers of more than Rs 5,00,000.
CBWTR_THRESHOLD = Decimal("500000.00")
CBWTR_SOURCE = f"{PML_RULES}, Rule 3(1)(F); {RBI_KYC_MD}"
MONTHLY_REPORT_DUE_DAY = 15
MONTHLY_REPORT_DUE_SOURCE = f"{PML_RULES}, Rule 8(1)"
STR_WORKING_DAYS = 7
STR_SOURCE = f"{PML_RULES}, Rule 3(1)(D) and Rule 8(2); {PMLA}"
# Saturdays and Sundays are not working days (policy: FIU-IND and most REs are closed);
# public holidays come from the operator-maintained calendar.
WEEKEND_DAYS = frozenset({5, 6})


def ctr_reportable(monthly_cash_total: Decimal) -> bool:
    """A cash transaction or connected cash transactions in one month over Rs 10 lakh."""
    return monthly_cash_total > CTR_THRESHOLD


def cbwtr_reportable(amount: Decimal) -> bool:
    return amount > CBWTR_THRESHOLD


def month_bounds(month: dt.date) -> tuple[dt.date, dt.date]:
    """[first day, first day of the next month) for the month containing `month`."""
    start = month.replace(day=1)
    return start, next_month(start)


def next_month(first_day: dt.date) -> dt.date:
    return (first_day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def monthly_report_due(month: dt.date) -> dt.date:
    """CTR / CBWTR for `month` are due by the 15th of the following month."""
    return next_month(month.replace(day=1)).replace(day=MONTHLY_REPORT_DUE_DAY)


def is_working_day(day: dt.date, holidays: Iterable[dt.date] | Callable[[dt.date], bool] = ()) -> bool:
    if day.weekday() in WEEKEND_DAYS:
        return False
    if callable(holidays):
        return not holidays(day)
    return day not in set(holidays)


def str_due_date(decided_on: dt.date, holidays: Iterable[dt.date] = ()) -> dt.date:
    """The 7th working day after the day the suspicion was concluded (the decision day itself
    does not count, as "within seven days on being satisfied" runs from the next day)."""
    holiday_set = set(holidays)
    day, counted = decided_on, 0
    while counted < STR_WORKING_DAYS:
        day += dt.timedelta(days=1)
        if is_working_day(day, holiday_set):
            counted += 1
    return day


def working_days_left(today: dt.date, due: dt.date, holidays: Iterable[dt.date] = ()) -> int:
    """Working days after today up to and including `due` (0: today is the last day).

    Past the due date: minus the working days elapsed since it, at least -1.
    """
    holiday_set = set(holidays)

    def working_days(after: dt.date, until: dt.date) -> int:
        return sum(1 for n in range(1, (until - after).days + 1) if is_working_day(after + dt.timedelta(days=n), holiday_set))

    if due >= today:
        return working_days(today, due)
    return -max(working_days(due, today), 1)
