"""Periodic re-KYC (updation of KYC) intervals by customer risk.

Source: RBI Master Direction - Know Your Customer (KYC) Direction, 2016
(DBR.AML.BC.No.81/14.01.001/2015-16, as updated), Section 38 "Updation / periodic
updation of KYC": at least once every two years for high-risk customers, once every
eight years for medium-risk and once every ten years for low-risk customers, from
the date of opening the account / last KYC updation.

The intervals can be overridden with settings.COMPLIANCE_REKYC_YEARS
({"HIGH": 2, "MEDIUM": 8, "LOW": 10}); a stricter internal policy is allowed, a laxer one is not
(the override is refused if any interval exceeds the RBI maximum).
The reminder lead time (alert before the due date) is this service's policy.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

SOURCE = "RBI Master Direction - KYC Direction, 2016 (as updated), Section 38"
RBI_REKYC_YEARS = {"HIGH": 2, "MEDIUM": 8, "LOW": 10}
# Policy, not regulation: warn this many days before a re-KYC falls due.
REMINDER_DAYS_BEFORE = 60


def rekyc_years() -> dict[str, int]:
    configured = dict(RBI_REKYC_YEARS)
    configured.update(getattr(settings, "COMPLIANCE_REKYC_YEARS", {}) or {})
    for risk, years in configured.items():
        if risk not in RBI_REKYC_YEARS:
            raise ImproperlyConfigured(f"COMPLIANCE_REKYC_YEARS: unknown risk level {risk!r}")
        if not isinstance(years, int) or years < 1 or years > RBI_REKYC_YEARS[risk]:
            raise ImproperlyConfigured(
                f"COMPLIANCE_REKYC_YEARS[{risk!r}] = {years!r}: must be a whole number of years from 1 to "
                f"{RBI_REKYC_YEARS[risk]} ({SOURCE})"
            )
    return configured


def add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February -> 28 February
        return day.replace(year=day.year + years, day=28)


def rekyc_due(last_review: dt.date, risk_level: str) -> dt.date:
    return add_years(last_review, rekyc_years()[risk_level])


def reminder_date(due: dt.date) -> dt.date:
    return due - dt.timedelta(days=REMINDER_DAYS_BEFORE)
