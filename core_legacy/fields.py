"""Model fields for legacy column types that need translation at the boundary."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import models


def core_tz() -> ZoneInfo:
    return ZoneInfo(settings.CORE_TIME_ZONE)


def to_core_naive(value: dt.datetime) -> dt.datetime:
    """An aware datetime as the naive India-time value the core stores and compares."""
    if value.tzinfo is None:
        return value
    return value.astimezone(core_tz()).replace(tzinfo=None)


def from_core_naive(value: dt.datetime | None) -> dt.datetime | None:
    """A naive core timestamp (India local time) as an aware datetime."""
    if value is None:
        return None
    if value.tzinfo is not None:
        return value
    return value.replace(tzinfo=core_tz())


class IndiaNaiveDateTimeField(models.DateTimeField):
    """`timestamp without time zone` written by the core in India local time.

    Reads come back aware (Asia/Kolkata). Filter values are converted to naive India time
    before they reach SQL, so `trans_date__gte=<aware UTC datetime>` compares correctly;
    without this, PostgreSQL would cast the column to the session's UTC zone and be off
    by 5h30.
    """

    def from_db_value(self, value, expression, connection):
        return from_core_naive(value)

    def get_prep_value(self, value):
        # Bypass DateTimeField's naive-datetime warning: naive here means India time.
        value = models.Field.get_prep_value(self, value)
        if isinstance(value, dt.datetime):
            return to_core_naive(value)
        if isinstance(value, dt.date):
            return dt.datetime.combine(value, dt.time.min)
        return self.to_python(value)

    def get_db_prep_value(self, value, connection, prepared=False):
        if not prepared:
            value = self.get_prep_value(value)
        return value
