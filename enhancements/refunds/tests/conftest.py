"""Fixtures of the refunds tests: approver users, core rows, and a live gateway simulator."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group, User


@pytest.fixture(autouse=True)
def _no_auto_execute(settings):
    # Tests drive execution explicitly; the Celery path has its own test.
    settings.REFUND_AUTO_EXECUTE = False


@pytest.fixture
def simulator(settings, django_db_blocker):
    from integrations.core_gateway.simulator import start_simulator

    server = start_simulator(api_key=django_settings.CORE_GATEWAY_API_KEY)
    settings.CORE_GATEWAY_URL = server.url
    settings.CORE_GATEWAY_TIMEOUT_S = 0.5
    settings.CORE_GATEWAY_RETRIES = 1
    settings.CORE_GATEWAY_BACKOFF_S = 0.01
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _user(name: str, *groups: str) -> User:
    user = User.objects.create_user(name, password="pw", is_staff=True)
    user.groups.add(*Group.objects.filter(name__in=groups))
    return user


@pytest.fixture
def people(db):
    """maker raises; l1/l2/fin approve; boss holds every level (to test one-person-two-levels)."""
    from enhancements.refunds.permissions import ensure_groups

    ensure_groups()  # a transactional test's flush removes the migration's groups
    return {
        "maker": _user("maker", "Refund operators"),
        "l1": _user("l1", "Refund approvers L1"),
        "l2": _user("l2", "Refund approvers L2"),
        "fin": _user("fin", "Refund finance approvers"),
        "boss": _user("boss", "Refund approvers L1", "Refund approvers L2", "Refund finance approvers", "Refund operators"),
    }


@pytest.fixture
def paid_txn(core_rows):
    """A factory: a merchant (refunds enabled) and a successful transaction paid `paid` rupees."""
    merchants: dict = {}

    def make(paid: float = 1000.0, *, refunds_enabled: bool = True, days_ago: int = 2, **overrides) -> dict:
        key = refunds_enabled
        if key not in merchants:
            merchants[key] = core_rows.merchant(refund_applicable=refunds_enabled,
                                                is_refund_applicable="Y" if refunds_enabled else "N")
        m = merchants[key]
        when = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
        return core_rows.transaction(client_id=m["client_id"], client_code=m["client_code"], paid_amount=paid,
                                     act_amount=paid, trans_date=when, **overrides)

    return make
