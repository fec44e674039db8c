import datetime as dt
from decimal import Decimal

import pytest

from enhancements.compliance.models import Alert
from tests.core_rows import CoreRows

OCT = dt.date(2026, 10, 1)


def ist(day: int, hour: int = 12, minute: int = 0, month: int = 10) -> dt.datetime:
    """A naive India-time timestamp in October 2026 (the core's own representation)."""
    return dt.datetime(2026, month, day, hour, minute)


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_user(username="analyst", password="x", is_staff=True)


@pytest.fixture
def supervisor(django_user_model):
    return django_user_model.objects.create_user(username="mlro", password="x", is_staff=True)


def alerts_for(rule_code: str, **filters) -> list[Alert]:
    return list(Alert.objects.filter(rule_code=rule_code, **filters).order_by("id"))


def txn(core_rows: CoreRows, client_id: int, amount: str, when: dt.datetime, **extra) -> dict:
    value = float(Decimal(amount))
    return core_rows.transaction(client_id=client_id, client_code=f"TC{client_id}", trans_date=when,
                                 paid_amount=value, act_amount=value, payee_amount=value, **extra)
