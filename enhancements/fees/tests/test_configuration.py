"""Maker-checker approval and effective dating (no overlaps, history never rewritten)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from enhancements.fees.calculation import fee_calculate
from enhancements.fees.models import ConfigStatus, FeeConfiguration
from enhancements.fees.validation import FeeValidationError
from enhancements.fees.services import (
    FeeApprovalError,
    fee_configuration_approve,
    fee_configuration_propose,
    fee_configuration_reject,
    fee_configuration_withdraw,
)

pytestmark = pytest.mark.django_db(databases=["default", "core"])
UTC = dt.UTC


@pytest.fixture(autouse=True)
def _merchants(merchants):
    merchants(101, 202)


def propose(maker, **kw):
    args = dict(created_by=maker, client_id=101, client_code="TC101", payment_mode="Credit Card", structure="percentage",
                percent="2", effective_from=dt.datetime(2020, 1, 1, tzinfo=UTC))  # fmt: skip
    args.update(kw)
    return fee_configuration_propose(**args)


def fee_at(at, client_id=101):
    return fee_calculate(client_id=client_id, client_code="TC", payment_mode="Credit Card", amount="1000.00", at=at).result.fee


def test_a_change_takes_effect_only_after_a_second_operator_approves(operators, approved):
    maker, checker = operators
    approved(client_id=None, percent="1")  # the default meanwhile
    pending = propose(maker)
    assert fee_at(timezone.now()) == D("10.00")  # pending: not in force
    with pytest.raises(FeeApprovalError, match="maker-checker"):
        fee_configuration_approve(configuration_id=pending.pk, approved_by=maker)
    clerk = get_user_model().objects.create_user(username="clerk", password="x", is_staff=False)
    with pytest.raises(FeeApprovalError, match="staff"):
        fee_configuration_approve(configuration_id=pending.pk, approved_by=clerk)
    fee_configuration_approve(configuration_id=pending.pk, approved_by=checker)
    assert fee_at(timezone.now()) == D("20.00")
    with pytest.raises(FeeApprovalError, match="not pending"):
        fee_configuration_approve(configuration_id=pending.pk, approved_by=checker)


def test_the_database_also_refuses_self_approval(operators):
    maker, _ = operators
    pending = propose(maker)
    with pytest.raises(IntegrityError), transaction.atomic():
        FeeConfiguration.objects.filter(pk=pending.pk).update(decided_by=maker, status=ConfigStatus.APPROVED)


def test_reject_needs_a_reason_and_withdraw_is_for_the_maker(operators):
    maker, checker = operators
    a, b = propose(maker), propose(maker, percent="3")
    with pytest.raises(FeeApprovalError, match="reason"):
        fee_configuration_reject(configuration_id=a.pk, rejected_by=checker, reason=" ")
    assert fee_configuration_reject(configuration_id=a.pk, rejected_by=checker, reason="rate too high").status == "rejected"
    with pytest.raises(FeeApprovalError, match="proposed"):
        fee_configuration_withdraw(configuration_id=b.pk, withdrawn_by=checker)
    assert fee_configuration_withdraw(configuration_id=b.pk, withdrawn_by=maker).status == "withdrawn"
    assert (a.version, b.version) == (1, 2)


def test_new_version_closes_the_previous_one_at_its_start_and_history_stays(operators):
    maker, checker = operators
    v1 = fee_configuration_approve(configuration_id=propose(maker).pk, approved_by=checker)
    switch = timezone.now() + dt.timedelta(days=2)
    v2 = fee_configuration_approve(configuration_id=propose(maker, percent="1.5", effective_from=switch).pk,
                                   approved_by=checker)  # fmt: skip
    v1.refresh_from_db()
    assert (v1.effective_until, v2.supersedes_id, v2.version) == (switch, v1.pk, 2)
    assert fee_at(switch - dt.timedelta(seconds=1)) == D("20.00")
    assert fee_at(switch) == D("15.00")  # [from, until): the boundary instant belongs to v2
    assert fee_at(dt.datetime(2021, 6, 1, tzinfo=UTC)) == D("20.00")


def test_backdating_over_a_version_in_force_is_refused(operators):
    maker, checker = operators
    fee_configuration_approve(configuration_id=propose(maker).pk, approved_by=checker)
    late = propose(maker, percent="1", effective_from=timezone.now() - dt.timedelta(days=30))
    with pytest.raises(FeeApprovalError, match="rewrite"):
        fee_configuration_approve(configuration_id=late.pk, approved_by=checker)
    # backdating into a gap (only the default applied then) is allowed
    first = propose(maker, client_id=202, client_code="TC202", effective_from=timezone.now() - dt.timedelta(days=30))
    assert fee_configuration_approve(configuration_id=first.pk, approved_by=checker).status == "approved"


def test_overlapping_a_later_approved_version_is_refused_and_the_constraint_backs_it(operators):
    maker, checker = operators
    soon = timezone.now() + dt.timedelta(days=10)
    fee_configuration_approve(configuration_id=propose(maker, effective_from=soon).pk, approved_by=checker)
    earlier = propose(maker, percent="1", effective_from=timezone.now() + dt.timedelta(days=1))
    with pytest.raises(FeeApprovalError, match="overlaps approved version 1"):
        fee_configuration_approve(configuration_id=earlier.pk, approved_by=checker)
    # bypassing the service: the exclusion constraint refuses the overlap
    with pytest.raises(IntegrityError, match="fee_configuration_no_overlap"), transaction.atomic():
        FeeConfiguration.objects.filter(pk=earlier.pk).update(status=ConfigStatus.APPROVED, decided_by=checker)
    # another mode, fee type or merchant does not overlap
    other = propose(maker, payment_mode="Wallet", effective_from=timezone.now() + dt.timedelta(days=1))
    assert fee_configuration_approve(configuration_id=other.pk, approved_by=checker).status == "approved"


def test_a_configuration_for_a_merchant_the_core_does_not_know_is_refused(operators):
    maker, _ = operators
    with pytest.raises(FeeValidationError, match="no merchant with client_id 999999"):
        propose(maker, client_id=999999, client_code="")
    with pytest.raises(FeeValidationError, match="is TC101, not XYZ"):
        propose(maker, client_code="XYZ")
    assert propose(maker, client_code="").client_code == "TC101"  # taken from the core
