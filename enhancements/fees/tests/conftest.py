from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.contrib.auth import get_user_model

_n = itertools.count(1)

UTC = dt.UTC
LONG_AGO = dt.datetime(2020, 1, 1, tzinfo=UTC)


@pytest.fixture
def operators(db):
    User = get_user_model()
    maker = User.objects.create_user(username=f"maker{next(_n)}", password="x", is_staff=True)
    checker = User.objects.create_user(username=f"checker{next(_n)}", password="x", is_staff=True)
    return maker, checker


@pytest.fixture
def merchants(core_rows):
    """merchants(*client_ids): core merchants TC<id> (once each)."""
    made = set()

    def make(*client_ids):
        for client_id in client_ids:
            if client_id not in made:
                core_rows.merchant(client_id=client_id, client_code=f"TC{client_id}")
                made.add(client_id)

    return make


@pytest.fixture
def approved(operators, merchants):
    """approved(client_id=..., payment_mode=..., structure=..., **terms) -> an approved version
    (the merchant is created in the core first)."""
    from enhancements.fees.services import fee_configuration_approve, fee_configuration_propose

    maker, checker = operators

    def make(*, client_id=None, payment_mode="Credit Card", structure="percentage", effective_from=LONG_AGO, **terms):
        if client_id is not None:
            merchants(client_id)
        config = fee_configuration_propose(created_by=maker, client_id=client_id, payment_mode=payment_mode,
                                           structure=structure, effective_from=effective_from, **terms)  # fmt: skip
        return fee_configuration_approve(configuration_id=config.pk, approved_by=checker)

    return make


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Tier volumes are cached in Redis (this suite's own DB index); start each test clean.
    from django.core.cache import cache

    cache.clear()
