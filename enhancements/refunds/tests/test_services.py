"""Raising and approving refunds: each validation rule, the tiers, maker-checker, illegal transitions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from enhancements.events.models import OutboxEvent
from enhancements.refunds import services
from enhancements.refunds.errors import ApprovalNotAllowed, IllegalTransition, RefundRefused
from enhancements.refunds.models import RefundApprovalWorkflow, RefundSource, RefundState
from enhancements.refunds.selectors import refunds_waiting_for

pytestmark = pytest.mark.django_db(databases=["default", "core"])


def raise_refund(people, txn, amount, **kw):
    return services.refund_create(amount=amount, source=RefundSource.OPERATOR, txn_id=txn["txn_id"], actor=people["maker"],
                                  reason="customer returned goods", **kw)


def refused_rule(fn, *args, **kwargs) -> str:
    with pytest.raises(RefundRefused) as info:
        fn(*args, **kwargs)
    return info.value.rule


def test_each_rule_names_itself(people, paid_txn, core_rows, settings):
    ok = paid_txn(1000.0)
    assert refused_rule(raise_refund, people, {"txn_id": "999999999999999999"}, "10") == "txn_not_found"
    assert refused_rule(raise_refund, people, ok, "0") == "amount_not_positive"
    assert refused_rule(raise_refund, people, ok, "-5") == "amount_not_positive"
    assert refused_rule(raise_refund, people, ok, "10.005") == "bad_input"
    assert refused_rule(raise_refund, people, ok, "ten") == "bad_input"
    assert refused_rule(raise_refund, people, ok, "1000.01") == "amount_exceeds_balance"
    failed = paid_txn(500.0, status="FAILED", sabpaisa_resp_code="0300")
    assert refused_rule(raise_refund, people, failed, "10") == "txn_not_successful"
    disabled = paid_txn(500.0, refunds_enabled=False)
    assert refused_rule(raise_refund, people, disabled, "10") == "merchant_refunds_disabled"
    old = paid_txn(500.0, days_ago=181)
    assert refused_rule(raise_refund, people, old, "10") == "txn_too_old"
    settings.REFUND_MAX_AGE_DAYS = 365
    assert raise_refund(people, old, "10").state == RefundState.PENDING_APPROVAL


def test_balance_counts_core_refunds_and_this_layers_open_refunds(people, paid_txn):
    txn = paid_txn(1000.0, refunded_amount=300.0, refund_amount=300.0)
    first = raise_refund(people, txn, "600.00")
    assert first.state == RefundState.PENDING_APPROVAL
    with pytest.raises(RefundRefused) as info:
        raise_refund(people, txn, "100.01")
    assert info.value.rule == "amount_exceeds_balance" and "100.00" in info.value.message
    assert raise_refund(people, txn, "100.00").amount == Decimal("100.00")
    # A cancelled request frees its reservation.
    services.refund_cancel(refund_id=first.pk, actor=people["maker"])
    assert raise_refund(people, txn, "600.00").state == RefundState.PENDING_APPROVAL


def test_max_refunds_per_transaction(people, paid_txn, settings):
    settings.REFUND_MAX_PER_TXN = 2
    txn = paid_txn(1000.0)
    raise_refund(people, txn, "1")
    raise_refund(people, txn, "1")
    assert refused_rule(raise_refund, people, txn, "1") == "max_refunds_per_txn"


def test_merchant_reference_and_scope(people, paid_txn):
    txn = paid_txn(1000.0)
    refund = services.refund_create(amount="5", source=RefundSource.MERCHANT, client_code=txn["client_code"],
                                    client_txn_id=txn["client_txn_id"], actor_label="merchant:x",
                                    merchant_client_id=txn["client_id"])  # fmt: skip
    assert refund.txn_id == txn["txn_id"]
    # Another merchant cannot refund it, and is not told that it exists.
    rule = refused_rule(services.refund_create, amount="5", source=RefundSource.MERCHANT, txn_id=txn["txn_id"],
                        actor_label="merchant:y", merchant_client_id=txn["client_id"] + 1)  # fmt: skip
    assert rule == "txn_not_found"


@pytest.mark.parametrize(
    ("amount", "levels"),
    [("10000.00", ["L1"]), ("10000.01", ["L1", "L2"]), ("100000.00", ["L1", "L2"]), ("100000.01", ["L1", "L2", "FINANCE"])],
)
def test_tiers(people, paid_txn, amount, levels):
    refund = raise_refund(people, paid_txn(200000.0), amount)
    assert refund.approval_levels == levels


def test_three_level_chain_with_maker_checker(people, paid_txn):
    refund = raise_refund(people, paid_txn(200000.0), "150000.00")
    # The raiser cannot approve, even holding every permission.
    people["maker"].user_permissions.add(*people["boss"].groups.get(name="Refund approvers L1").permissions.all())
    with pytest.raises(ApprovalNotAllowed, match="maker-checker"):
        services.refund_approve(refund_id=refund.pk, actor=people["maker"])
    # Level 2 cannot jump the queue.
    with pytest.raises(ApprovalNotAllowed, match="level L1"):
        services.refund_approve(refund_id=refund.pk, actor=people["l2"])
    services.refund_approve(refund_id=refund.pk, actor=people["boss"], comment="ok L1")
    # The same person cannot approve the second level.
    with pytest.raises(ApprovalNotAllowed, match="two levels"):
        services.refund_approve(refund_id=refund.pk, actor=people["boss"])
    services.refund_approve(refund_id=refund.pk, actor=people["l2"])
    refund.refresh_from_db()
    assert refund.state == RefundState.PENDING_APPROVAL and refund.approvals_done == 2
    services.refund_approve(refund_id=refund.pk, actor=people["fin"])
    refund.refresh_from_db()
    assert refund.state == RefundState.APPROVED
    trail = list(RefundApprovalWorkflow.objects.filter(refund=refund).values_list("action", "level", "actor_label"))
    assert trail == [("create", "", "maker"), ("approve", "L1", "boss"), ("approve", "L2", "l2"), ("approve", "FINANCE", "fin")]
    types = set(OutboxEvent.objects.filter(txn_id=refund.txn_id).values_list("type", flat=True))
    assert {"refund.created", "refund.approved"} <= types


def test_illegal_transitions_are_clear_errors(people, paid_txn):
    refund = raise_refund(people, paid_txn(), "10")
    services.refund_reject(refund_id=refund.pk, actor=people["l1"], reason="duplicate request")
    with pytest.raises(IllegalTransition, match="it is REJECTED"):
        services.refund_approve(refund_id=refund.pk, actor=people["l1"])
    with pytest.raises(IllegalTransition, match="cannot cancel refund .* it is REJECTED"):
        services.refund_cancel(refund_id=refund.pk, actor=people["maker"])
    with pytest.raises(ApprovalNotAllowed, match="needs a reason"):
        services.refund_reject(refund_id=refund.pk, actor=people["l1"], reason=" ")


def test_return_for_correction_and_amend(people, paid_txn):
    refund = raise_refund(people, paid_txn(50000.0), "20000")
    services.refund_approve(refund_id=refund.pk, actor=people["l1"])
    services.refund_return(refund_id=refund.pk, actor=people["l2"], comment="amount should be 5000")
    with pytest.raises(ApprovalNotAllowed, match="only whoever raised"):
        services.refund_amend(refund_id=refund.pk, actor=people["l1"], amount="5000")
    assert not refunds_waiting_for(people["l1"]).filter(pk=refund.pk).exists()  # back with the raiser
    refund = services.refund_amend(refund_id=refund.pk, actor=people["maker"], amount="5000")
    assert refunds_waiting_for(people["l1"]).filter(pk=refund.pk).exists()  # l1's earlier approval no longer counts
    assert refund.state == RefundState.PENDING_APPROVAL and refund.approval_levels == ["L1"]
    assert refund.approvals_done == 0  # approvals given before the return are void
    services.refund_approve(refund_id=refund.pk, actor=people["l1"])
    refund.refresh_from_db()
    assert refund.state == RefundState.APPROVED
    assert list(refund.workflow.values_list("action", flat=True)) == ["create", "approve", "return", "amend", "approve"]


def test_final_approval_rechecks_balance(people, paid_txn, core_rows):
    txn = paid_txn(1000.0)
    refund = raise_refund(people, txn, "800")
    # Meanwhile the core refunds 300 through its own channel.
    core_rows.execute("UPDATE transaction_detail SET refunded_amount = 300 WHERE txn_id = %s", [txn["txn_id"]])
    with pytest.raises(RefundRefused, match="amount_exceeds_balance"):
        services.refund_approve(refund_id=refund.pk, actor=people["l1"])
    refund.refresh_from_db()
    assert refund.state == RefundState.PENDING_APPROVAL


def test_only_the_raiser_or_an_approver_can_cancel(people, paid_txn):
    from django.contrib.auth.models import User

    refund = raise_refund(people, paid_txn(), "10")
    stranger = User.objects.create_user("stranger", is_staff=True)
    with pytest.raises(ApprovalNotAllowed, match="only whoever raised"):
        services.refund_cancel(refund_id=refund.pk, actor=stranger)
    assert services.refund_cancel(refund_id=refund.pk, actor=people["l2"], comment="duplicate").state == RefundState.CANCELLED
    assert OutboxEvent.objects.get(type="refund.rejected").payload["rule"] == "cancelled"
