"""Bulk refunds: upload (CSV/XLSX) -> row-level preview -> submit -> approval as a unit.

Columns (header row, case-insensitive): `txn_id` or `client_code` + `client_txn_id`,
`amount` (rupees, at most 2 decimals), optional `reason`. Every row is validated set-based
(rules.validate); the operator sees accepted/rejected rows with the rule before
submitting. Submitting validates again under the transactions' locks and creates one
refund per accepted row (reserving its amount); approving the batch approves them all
after a last set-based balance check; each is then executed and tracked on its own.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterator
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from enhancements.events import outbox

from . import workflow
from .errors import ApprovalNotAllowed, BatchFileError, IllegalTransition, RefundRefused
from .locks import lock_transactions
from .models import RefundApprovalWorkflow, RefundBatch, RefundBatchItem, RefundRequest, RefundSource, RefundState
from .rules import Candidate, Rule, validate
from .services import parse_amount

COLUMNS = ("txn_id", "client_code", "client_txn_id", "amount", "reason")


def max_rows() -> int:
    return int(getattr(settings, "REFUND_BATCH_MAX_ROWS", 50_000))


@dataclasses.dataclass
class ParsedRow:
    row_number: int
    txn_id: str
    client_code: str
    client_txn_id: str
    amount: Decimal | None
    reason: str
    error: tuple[str, str] | None


def _records(file_name: str, data: bytes) -> Iterator[list[str]]:
    name = file_name.lower()
    if name.endswith(".xlsx"):
        from openpyxl import load_workbook

        try:
            sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
        except Exception as exc:  # openpyxl raises many types for a broken file
            raise BatchFileError(f"{file_name} is not a readable XLSX workbook: {exc}") from exc
        for values in sheet.iter_rows(values_only=True):
            yield ["" if v is None else str(v) for v in values]
    elif name.endswith(".csv"):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise BatchFileError(f"{file_name} is not UTF-8 text: {exc}") from exc
        yield from csv.reader(io.StringIO(text))
    else:
        raise BatchFileError(f"{file_name}: upload a .csv or .xlsx file")


def parse_upload(file_name: str, data: bytes) -> list[ParsedRow]:
    """Rows of the file; a bad row carries its error, a bad *file* raises BatchFileError."""
    records = _records(file_name, data)
    header = next(records, None)
    if not header or not any(h.strip() for h in header):
        raise BatchFileError(f"{file_name} is empty: the first row must be a header")
    names = [h.strip().lower() for h in header]
    unknown = [h for h in names if h and h not in COLUMNS]
    if unknown:
        raise BatchFileError(f"unknown column(s) {', '.join(unknown)}; expected {', '.join(COLUMNS)}")
    if "amount" not in names or ("txn_id" not in names and not {"client_code", "client_txn_id"} <= set(names)):
        raise BatchFileError("the header needs amount and txn_id (or client_code and client_txn_id)")
    index = {n: i for i, n in enumerate(names) if n}
    rows = []
    for number, record in enumerate(records, start=2):
        if not any(cell.strip() for cell in record):
            continue  # blank line
        if len(rows) >= max_rows():
            raise BatchFileError(f"more than {max_rows():,} rows: split the file")

        def cell(column: str) -> str:
            i = index.get(column)
            return record[i].strip() if i is not None and i < len(record) else ""

        row = ParsedRow(number, cell("txn_id"), cell("client_code"), cell("client_txn_id"), None, cell("reason")[:255], None)
        if not row.txn_id and not (row.client_code and row.client_txn_id):
            row.error = (Rule.BAD_INPUT, "row has no txn_id and no client_code + client_txn_id")
        else:
            try:
                row.amount = parse_amount(cell("amount"))
            except RefundRefused as exc:
                row.error = (exc.rule, exc.message)
        rows.append(row)
    if not rows:
        raise BatchFileError(f"{file_name} has a header but no rows")
    return rows


def validate_rows(rows: list[ParsedRow], **kwargs) -> list:
    candidates = [Candidate(amount=r.amount, txn_id=r.txn_id or None, client_code=r.client_code or None,
                            client_txn_id=r.client_txn_id or None, pre_error=r.error) for r in rows]  # fmt: skip
    return validate(candidates, **kwargs)


@transaction.atomic
def batch_upload(*, file_name: str, data: bytes, actor) -> RefundBatch:
    """Parse and validate a file into a DRAFT batch (the preview). Nothing is reserved yet."""
    rows = parse_upload(file_name, data)
    verdicts = validate_rows(rows)
    batch = RefundBatch.objects.create(file_name=file_name[:255], uploaded_by=actor)
    items = [
        RefundBatchItem(batch=batch, row_number=r.row_number, txn_id=(v.txn.txn_id if v.txn else r.txn_id)[:64],
                        client_code=r.client_code[:64], client_txn_id=r.client_txn_id[:128], amount=r.amount, reason=r.reason,
                        verdict=RefundBatchItem.Verdict.ACCEPTED if v.ok else RefundBatchItem.Verdict.REJECTED,
                        rule=v.rule or "", message=v.message[:500])
        for r, v in zip(rows, verdicts, strict=True)
    ]  # fmt: skip
    RefundBatchItem.objects.bulk_create(items, batch_size=2000)
    _update_totals(batch)
    workflow.record(batch, action="upload", from_state="", actor=actor,
                    comment=f"{batch.total_rows} rows: {batch.accepted_rows} accepted, {batch.rejected_rows} rejected")  # fmt: skip
    return batch


def _update_totals(batch: RefundBatch) -> None:
    items = list(batch.items.values_list("verdict", "amount"))
    accepted = [a for v, a in items if v == RefundBatchItem.Verdict.ACCEPTED]
    batch.total_rows, batch.accepted_rows = len(items), len(accepted)
    batch.rejected_rows = len(items) - len(accepted)
    batch.accepted_amount = sum(accepted, Decimal("0.00"))
    batch.save(update_fields=["total_rows", "accepted_rows", "rejected_rows", "accepted_amount", "updated_at"])


def _lock_batch(batch_id: int) -> RefundBatch:
    try:
        return RefundBatch.objects.select_for_update().get(pk=batch_id)
    except RefundBatch.DoesNotExist as exc:
        raise IllegalTransition(f"batch #{batch_id} does not exist") from exc


@transaction.atomic
def batch_submit(*, batch_id: int, actor, all_or_nothing: bool = False) -> RefundBatch:
    """Re-validate under lock, create the refunds of accepted rows, and ask for approval."""
    batch = _lock_batch(batch_id)
    if batch.state != RefundBatch.State.DRAFT:
        raise IllegalTransition(f"cannot submit batch #{batch.pk}: it is {batch.state}")
    if actor.pk != batch.uploaded_by_id:
        raise ApprovalNotAllowed("only whoever uploaded a batch can submit it")
    items = list(batch.items.filter(verdict=RefundBatchItem.Verdict.ACCEPTED).order_by("row_number"))
    lock_transactions([i.txn_id for i in items])
    rows = [ParsedRow(i.row_number, i.txn_id, i.client_code, i.client_txn_id, i.amount, i.reason, None) for i in items]
    verdicts = validate_rows(rows)
    newly_rejected = [(i, v) for i, v in zip(items, verdicts, strict=True) if not v.ok]
    if all_or_nothing and (newly_rejected or batch.rejected_rows):
        raise RefundRefused("batch_has_rejected_rows", f"{batch.rejected_rows + len(newly_rejected)} rows are rejected "
                            "and you chose all-or-nothing: fix the file and upload it again")  # fmt: skip
    for item, verdict in newly_rejected:
        item.verdict, item.rule, item.message = RefundBatchItem.Verdict.REJECTED, verdict.rule, verdict.message[:500]
    RefundBatchItem.objects.bulk_update([i for i, _ in newly_rejected], ["verdict", "rule", "message"], batch_size=2000)
    accepted = [(i, v) for i, v in zip(items, verdicts, strict=True) if v.ok]
    if not accepted:
        raise RefundRefused("batch_empty", "no row of this batch passes validation; nothing to submit")
    _update_totals(batch)
    batch.approval_levels = workflow.approval_levels_for(batch.accepted_amount)
    before = workflow.apply_transition(batch, "submit")
    batch.save(update_fields=["state", "approval_levels", "updated_at"])
    today = workflow.india_today()
    refunds = RefundRequest.objects.bulk_create([
        RefundRequest(source=RefundSource.BATCH, txn_id=v.txn.txn_id, client_id=v.txn.client_id,
                      client_code=v.txn.client_code or "", client_txn_id=v.txn.client_txn_id or "", amount=i.amount,
                      reason=i.reason or f"batch #{batch.pk}", paid_amount=v.txn.paid_amount, trans_date=v.txn.trans_date,
                      payment_mode=v.txn.payment_mode or "", raised_by=actor, raised_by_label=workflow.actor_label(actor),
                      batch=batch, approval_levels=batch.approval_levels, **workflow.tat_fields(v.txn.payment_mode, today))
        for i, v in accepted
    ], batch_size=2000)  # fmt: skip
    with connection.cursor() as cursor:  # one UPDATE ... FROM unnest: bulk_update's CASE is quadratic
        cursor.execute(
            f"UPDATE {RefundBatchItem._meta.db_table} i SET refund_id = u.refund_id "
            "FROM unnest(%s::bigint[], %s::bigint[]) AS u(item_id, refund_id) WHERE i.id = u.item_id",
            [[i.pk for i, _ in accepted], [r.pk for r in refunds]],
        )
    _bulk_record(refunds, action="create", from_state="", actor=actor, comment=f"batch #{batch.pk}")
    outbox.publish_many([workflow.event_for(r, "refund.created") for r in refunds])
    workflow.record(batch, action="submit", from_state=before, actor=actor,
                    comment=f"{len(refunds)} refunds, Rs {batch.accepted_amount}")  # fmt: skip
    return batch


def _bulk_record(refunds, *, action: str, from_state: str, actor=None, label: str | None = None, comment: str = "",
                 level: str = "") -> None:  # fmt: skip
    RefundApprovalWorkflow.objects.bulk_create([
        RefundApprovalWorkflow(refund=r, action=action, from_state=from_state, to_state=r.state, level=level,
                               actor=actor, actor_label=label or workflow.actor_label(actor), comment=comment)
        for r in refunds
    ], batch_size=2000)  # fmt: skip


def _batch_refunds(batch: RefundBatch, state: str) -> list[RefundRequest]:
    return list(batch.refunds.select_for_update().filter(state=state).order_by("id"))


@transaction.atomic
def batch_approve(*, batch_id: int, actor, comment: str = "") -> RefundBatch:
    batch = _lock_batch(batch_id)
    if batch.state != RefundBatch.State.PENDING_APPROVAL:
        raise IllegalTransition(f"cannot approve batch #{batch.pk}: it is {batch.state}")
    level = workflow.check_approver(batch, actor=actor, raised_by_id=batch.uploaded_by_id)
    final = batch.approvals_done + 1 == len(batch.approval_levels)
    before = workflow.apply_transition(batch, "approve_final" if final else "approve_level")
    batch.approvals_done += 1
    batch.save(update_fields=["state", "approvals_done", "updated_at"])
    workflow.record(batch, action="approve", from_state=before, actor=actor, comment=comment, level=level)
    refunds = _batch_refunds(batch, RefundState.PENDING_APPROVAL)
    if not final:
        _bulk_record(refunds, action="approve", from_state=RefundState.PENDING_APPROVAL, actor=actor,
                     comment=f"batch #{batch.pk} approved at {level}", level=level)  # fmt: skip
        RefundRequest.objects.filter(pk__in=[r.pk for r in refunds]).update(approvals_done=batch.approvals_done)
        return batch
    # Last level: the balance may have moved since submission (core refunds, other approvals).
    lock_transactions([r.txn_id for r in refunds])
    verdicts = validate([Candidate(amount=r.amount, txn_id=r.txn_id) for r in refunds], approving=True,
                        exclude_refund_ids=[r.pk for r in refunds])  # fmt: skip
    ok = [r for r, v in zip(refunds, verdicts, strict=True) if v.ok]
    refused = [(r, v) for r, v in zip(refunds, verdicts, strict=True) if not v.ok]
    now = timezone.now()
    RefundRequest.objects.filter(pk__in=[r.pk for r in ok]).update(
        state=RefundState.APPROVED, approvals_done=batch.approvals_done, updated_at=now)
    for r in ok:
        r.state = RefundState.APPROVED
    _bulk_record(ok, action="approve", from_state=RefundState.PENDING_APPROVAL, actor=actor,
                 comment=f"batch #{batch.pk} approved", level=level)  # fmt: skip
    events = [workflow.event_for(r, "refund.approved", approved_by=workflow.actor_label(actor)) for r in ok]
    for r, v in refused:
        RefundRequest.objects.filter(pk=r.pk).update(state=RefundState.REJECTED, rejection_rule=v.rule, resolved_at=now)
        r.state, r.rejection_rule = RefundState.REJECTED, v.rule
        workflow.record(r, action="refused_at_approval", from_state=RefundState.PENDING_APPROVAL, label="system",
                        comment=v.message)  # fmt: skip
        events.append(workflow.event_for(r, "refund.rejected", rule=v.rule, comment=v.message))
    outbox.publish_many(events)
    if ok and getattr(settings, "REFUND_AUTO_EXECUTE", True):
        from .tasks import batch_execute_task, enqueue

        transaction.on_commit(lambda: enqueue(batch_execute_task, batch.pk))
    return batch


@transaction.atomic
def batch_reject(*, batch_id: int, actor, reason: str, cancel: bool = False) -> RefundBatch:
    """Reject (an approver) or cancel (the uploader) a batch: none of its refunds go out."""
    if not cancel and not reason.strip():
        raise ApprovalNotAllowed("a rejection needs a reason")
    batch = _lock_batch(batch_id)
    level = ""
    if cancel:
        if actor.pk != batch.uploaded_by_id:
            raise ApprovalNotAllowed("only whoever uploaded a batch can cancel it")
    elif batch.state == RefundBatch.State.PENDING_APPROVAL:
        level = workflow.check_approver(batch, actor=actor, raised_by_id=batch.uploaded_by_id)
    before = workflow.apply_transition(batch, "cancel" if cancel else "reject")
    batch.save(update_fields=["state", "updated_at"])
    workflow.record(batch, action="cancel" if cancel else "reject", from_state=before, actor=actor, comment=reason, level=level)
    refunds = list(batch.refunds.select_for_update().filter(state=RefundState.PENDING_APPROVAL))
    target = RefundState.CANCELLED if cancel else RefundState.REJECTED
    RefundRequest.objects.filter(pk__in=[r.pk for r in refunds]).update(
        state=target, rejection_rule="" if cancel else "operator", resolved_at=timezone.now())
    for r in refunds:
        r.state = target
    _bulk_record(refunds, action="cancel" if cancel else "reject", from_state=RefundState.PENDING_APPROVAL, actor=actor,
                 comment=f"batch #{batch.pk}: {reason}")  # fmt: skip
    outbox.publish_many([workflow.event_for(r, "refund.rejected", rule="cancelled" if cancel else "operator",
                                            comment=reason) for r in refunds])  # fmt: skip
    return batch
