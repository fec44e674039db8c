"""Every write to a single refund request: raise, approve, reject, return, amend, cancel.

Each is one atomic function that locks what it changes (the refund row FOR UPDATE and,
where money is reserved, the transaction's advisory lock), validates, transitions,
records a refund_approval_workflow row and publishes its event in the same transaction.
Maker-checker lives here, so admin, API and any crafted request get the same answer.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core_legacy.conversions import quantize_paise

from . import workflow
from .errors import ApprovalNotAllowed, IllegalTransition, RefundRefused
from .locks import lock_transactions
from .models import RefundRequest, RefundState
from .rules import Candidate, Rule, validate


def parse_amount(value) -> Decimal:
    """Rupees as text/Decimal -> Decimal in paise; more than 2 decimals is refused, not rounded."""
    try:
        amount = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, AttributeError) as exc:
        raise RefundRefused(Rule.BAD_INPUT, f"amount {value!r} is not a number") from exc
    if not amount.is_finite():
        raise RefundRefused(Rule.BAD_INPUT, f"amount {value!r} is not a number")
    if amount != quantize_paise(amount):
        raise RefundRefused(Rule.BAD_INPUT, f"amount {value!r} has more than 2 decimal places")
    if amount <= 0:
        raise RefundRefused(Rule.AMOUNT_NOT_POSITIVE, f"amount must be greater than 0 (got {value})")
    return amount


def _on_commit_execute(refund: RefundRequest) -> None:
    if getattr(settings, "REFUND_AUTO_EXECUTE", True):
        from .tasks import refund_execute_task

        from .tasks import enqueue

        refund_id = refund.pk
        transaction.on_commit(lambda: enqueue(refund_execute_task, refund_id))


@transaction.atomic
def refund_create(*, amount, source: str, reason: str = "", txn_id: str | None = None, client_code: str | None = None,
                  client_txn_id: str | None = None, actor=None, actor_label: str | None = None,
                  merchant_client_id: int | None = None, core_refund_id: int | None = None) -> RefundRequest:  # fmt: skip
    """Raise a refund after validating it against the core. Raises RefundRefused naming the rule."""
    amount = parse_amount(amount)
    if not txn_id and not (client_code and client_txn_id):
        raise RefundRefused(Rule.BAD_INPUT, "give txn_id, or client_code and client_txn_id")
    candidate = Candidate(amount=amount, txn_id=txn_id, client_code=client_code, client_txn_id=client_txn_id,
                          scope_client_id=merchant_client_id)  # fmt: skip
    first = validate([candidate])[0]  # resolves client references to a txn_id
    if first.txn is None:
        raise RefundRefused(first.rule, first.message)
    lock_transactions([first.txn.txn_id])
    candidate.txn_id = first.txn.txn_id
    verdict = validate([candidate])[0]  # authoritative: under the lock
    if not verdict.ok:
        raise RefundRefused(verdict.rule, verdict.message)
    txn = verdict.txn
    refund = RefundRequest.objects.create(
        source=source, txn_id=txn.txn_id, client_id=txn.client_id, client_code=txn.client_code or "",
        client_txn_id=txn.client_txn_id or "", amount=amount, reason=reason[:255], paid_amount=txn.paid_amount,
        trans_date=txn.trans_date, payment_mode=txn.payment_mode or "", raised_by=actor if getattr(actor, "pk", None) else None,
        raised_by_label=actor_label or workflow.actor_label(actor), core_refund_id=core_refund_id,
        approval_levels=workflow.approval_levels_for(amount), **workflow.tat_fields(txn.payment_mode, workflow.india_today()),
    )  # fmt: skip
    workflow.record(refund, action="create", from_state="", actor=actor, label=refund.raised_by_label, comment=reason)
    workflow.publish(refund, "refund.created")
    return refund


@transaction.atomic
def refund_record_refused(*, source: str, amount: Decimal | None, rule: str, message: str, txn_id: str = "",
                          client_code: str = "", client_txn_id: str = "", actor_label: str,
                          core_refund_id: int | None = None) -> RefundRequest:  # fmt: skip
    """A request that arrived from the core and failed validation: kept, REJECTED, for operators to see."""
    refund = RefundRequest.objects.create(
        source=source, txn_id=txn_id, client_code=client_code, client_txn_id=client_txn_id,
        amount=amount if amount is not None and amount > 0 else None, state=RefundState.REJECTED, rejection_rule=rule,
        raised_by_label=actor_label, core_refund_id=core_refund_id, resolved_at=timezone.now(),
        **workflow.tat_fields(None, workflow.india_today()),
    )  # fmt: skip
    workflow.record(refund, action="refused_at_intake", from_state="", label="system", comment=message)
    workflow.publish(refund, "refund.rejected", rule=rule, comment=message)
    return refund


def _lock(refund_id: int) -> RefundRequest:
    try:
        return RefundRequest.objects.select_for_update().get(pk=refund_id)
    except RefundRequest.DoesNotExist as exc:
        raise IllegalTransition(f"refund #{refund_id} does not exist") from exc


def _not_in_batch(refund: RefundRequest, action: str) -> None:
    if refund.batch_id is not None:
        raise IllegalTransition(f"refund #{refund.pk} belongs to batch #{refund.batch_id}: {action} the batch instead")


@transaction.atomic
def refund_approve(*, refund_id: int, actor, comment: str = "") -> RefundRequest:
    refund = _lock(refund_id)
    _not_in_batch(refund, "approve")
    if refund.state != RefundState.PENDING_APPROVAL:
        raise IllegalTransition(f"cannot approve refund #{refund.pk}: it is {refund.state}")
    level = workflow.check_approver(refund, actor=actor, raised_by_id=refund.raised_by_id)
    final = refund.approvals_done + 1 == len(refund.approval_levels)
    if final:
        # Money leaves only after this point: re-check the balance under the txn lock,
        # counting refunds already approved, so two competing requests cannot both pass.
        lock_transactions([refund.txn_id])
        verdict = validate([Candidate(amount=refund.amount, txn_id=refund.txn_id)], approving=True,
                           exclude_refund_ids=[refund.pk])[0]  # fmt: skip
        if not verdict.ok:
            raise RefundRefused(verdict.rule, verdict.message)
    before = workflow.apply_transition(refund, "approve_final" if final else "approve_level")
    refund.approvals_done += 1
    refund.save(update_fields=["state", "approvals_done", "updated_at"])
    workflow.record(refund, action="approve", from_state=before, actor=actor, comment=comment, level=level)
    if final:
        workflow.publish(refund, "refund.approved", approved_by=workflow.actor_label(actor))
        _on_commit_execute(refund)
    return refund


@transaction.atomic
def refund_reject(*, refund_id: int, actor, reason: str) -> RefundRequest:
    if not reason.strip():
        raise ApprovalNotAllowed("a rejection needs a reason")
    refund = _lock(refund_id)
    _not_in_batch(refund, "reject")
    if refund.state == RefundState.PENDING_APPROVAL:
        level = workflow.check_approver(refund, actor=actor, raised_by_id=refund.raised_by_id)
    else:
        level = ""
        if refund.raised_by_id is not None and actor.pk == refund.raised_by_id:
            raise ApprovalNotAllowed("maker-checker: whoever raised a request cannot reject it (cancel it instead)")
        if not workflow.approver_levels(actor):
            raise ApprovalNotAllowed(f"{workflow.actor_label(actor)} holds no approval level and cannot reject")
    before = workflow.apply_transition(refund, "reject")
    refund.rejection_rule = "operator"
    refund.resolved_at = timezone.now()
    refund.save(update_fields=["state", "rejection_rule", "resolved_at", "updated_at"])
    workflow.record(refund, action="reject", from_state=before, actor=actor, comment=reason, level=level)
    workflow.publish(refund, "refund.rejected", rule="operator", comment=reason)
    return refund


@transaction.atomic
def refund_return(*, refund_id: int, actor, comment: str) -> RefundRequest:
    """Send back to the raiser for correction; approvals given so far are void."""
    if not comment.strip():
        raise ApprovalNotAllowed("say what needs correcting")
    refund = _lock(refund_id)
    _not_in_batch(refund, "return")
    if refund.state != RefundState.PENDING_APPROVAL:
        raise IllegalTransition(f"cannot return refund #{refund.pk}: it is {refund.state}")
    level = workflow.check_approver(refund, actor=actor, raised_by_id=refund.raised_by_id)
    before = workflow.apply_transition(refund, "return_for_correction")
    refund.approvals_done = 0
    refund.save(update_fields=["state", "approvals_done", "updated_at"])
    workflow.record(refund, action="return", from_state=before, actor=actor, comment=comment, level=level)
    return refund


@transaction.atomic
def refund_amend(*, refund_id: int, actor, amount=None, reason: str | None = None, comment: str = "") -> RefundRequest:
    """The raiser corrects a returned request and resubmits it (validated again, approvals restart)."""
    refund = _lock(refund_id)
    if refund.state != RefundState.RETURNED:
        raise IllegalTransition(f"cannot amend refund #{refund.pk}: it is {refund.state} (only RETURNED can be amended)")
    if refund.raised_by_id is not None and refund.raised_by_id != actor.pk:
        raise ApprovalNotAllowed("only whoever raised the request can amend it")
    new_amount = parse_amount(amount) if amount is not None else refund.amount
    lock_transactions([refund.txn_id])
    verdict = validate([Candidate(amount=new_amount, txn_id=refund.txn_id)], exclude_refund_ids=[refund.pk])[0]
    if not verdict.ok:
        raise RefundRefused(verdict.rule, verdict.message)
    old = f"amount {refund.amount}, reason {refund.reason!r}"
    refund.amount = new_amount
    refund.reason = (reason if reason is not None else refund.reason)[:255]
    refund.approval_levels = workflow.approval_levels_for(new_amount)
    before = workflow.apply_transition(refund, "resubmit")
    refund.save(update_fields=["state", "amount", "reason", "approval_levels", "updated_at"])
    workflow.record(refund, action="amend", from_state=before, actor=actor,
                    comment=f"{comment} (was {old})".strip())  # fmt: skip
    return refund


@transaction.atomic
def refund_cancel(*, refund_id: int, actor=None, merchant_client_id: int | None = None, comment: str = "") -> RefundRequest:
    """Withdraw a request before it is sent. A merchant may cancel only its own refunds."""
    refund = _lock(refund_id)
    if merchant_client_id is not None:
        if refund.client_id != merchant_client_id:
            raise IllegalTransition(f"refund #{refund_id} does not exist")
        label = f"merchant:{refund.client_code}"
    else:
        _not_in_batch(refund, "cancel")
        if refund.raised_by_id != actor.pk and not workflow.approver_levels(actor):
            raise ApprovalNotAllowed("only whoever raised a refund, or an approver, can cancel it")
        label = workflow.actor_label(actor)
    before = workflow.apply_transition(refund, "cancel")
    refund.resolved_at = timezone.now()
    refund.save(update_fields=["state", "resolved_at", "updated_at"])
    workflow.record(refund, action="cancel", from_state=before, actor=actor, label=label, comment=comment)
    workflow.publish(refund, "refund.rejected", rule="cancelled", comment=comment or f"cancelled by {label}")
    return refund

