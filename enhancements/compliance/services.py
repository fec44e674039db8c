"""Every write of the compliance app: case workflow, notes, STR clock, KYC records, report log.

Each function is one atomic state change that also writes its audit entry.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from enhancements.regulatory import kyc as kyc_rules
from enhancements.regulatory.reporting import str_due_date

from .models import (
    OPEN_STATUSES,
    Alert,
    AlertStatus,
    AuditEntry,
    CaseNote,
    KycStatus,
    MerchantKyc,
    ReportLog,
    ReportStatus,
    Resolution,
)
from .selectors import holidays_between


class WorkflowError(Exception):
    """An operator asked for something the case workflow does not allow; nothing was changed."""


# Allowed moves of the case workflow (RESOLVED / STR_FILED are final).
TRANSITIONS: dict[str, set[str]] = {
    AlertStatus.OPEN: {AlertStatus.UNDER_REVIEW},
    AlertStatus.UNDER_REVIEW: {AlertStatus.ESCALATED, AlertStatus.RESOLVED},
    AlertStatus.ESCALATED: {AlertStatus.RESOLVED, AlertStatus.STR_FILED},
    AlertStatus.RESOLVED: set(),
    AlertStatus.STR_FILED: set(),
}


def audit_record(*, object_type: str, object_id: int, action: str, actor: AbstractBaseUser | None, changes: dict) -> None:
    AuditEntry.objects.create(object_type=object_type, object_id=object_id, action=action, actor=actor, changes=changes)


def _locked(alert_id: int) -> Alert:
    try:
        return Alert.objects.select_for_update().get(pk=alert_id)
    except Alert.DoesNotExist:
        raise WorkflowError(f"alert {alert_id} does not exist") from None


def _move(alert: Alert, to: str, actor: AbstractBaseUser, **extra) -> None:
    if to not in TRANSITIONS[alert.status]:
        allowed = ", ".join(sorted(TRANSITIONS[alert.status])) or "none (the case is closed)"
        raise WorkflowError(f"alert {alert.pk} is {alert.status}; it cannot move to {to} (allowed: {allowed})")
    before = alert.status
    alert.status = to
    for field, value in extra.items():
        setattr(alert, field, value)
    if to in (AlertStatus.RESOLVED, AlertStatus.STR_FILED):
        alert.closed_at = timezone.now()
    alert.save()
    changes = {"status": [before, to], **{k: str(v) for k, v in extra.items() if k != "str_decided_by"}}
    audit_record(object_type="alert", object_id=alert.pk, action=f"status:{to}", actor=actor, changes=changes)


@transaction.atomic
def alert_assign(*, alert_id: int, assignee: AbstractBaseUser | None, actor: AbstractBaseUser) -> Alert:
    alert = _locked(alert_id)
    if alert.status not in OPEN_STATUSES:
        raise WorkflowError(f"alert {alert_id} is closed ({alert.status}); it cannot be reassigned")
    before = alert.assigned_to.get_username() if alert.assigned_to else None
    alert.assigned_to = assignee
    alert.save(update_fields=["assigned_to", "updated_at"])
    audit_record(object_type="alert", object_id=alert.pk, action="assigned", actor=actor,
                 changes={"assigned_to": [before, assignee.get_username() if assignee else None]})
    return alert


@transaction.atomic
def alert_start_review(*, alert_id: int, actor: AbstractBaseUser) -> Alert:
    alert = _locked(alert_id)
    _move(alert, AlertStatus.UNDER_REVIEW, actor, **({} if alert.assigned_to_id else {"assigned_to": actor}))
    return alert


@transaction.atomic
def alert_escalate(*, alert_id: int, actor: AbstractBaseUser, reason: str) -> Alert:
    if not reason.strip():
        raise WorkflowError("an escalation needs a reason")
    alert = _locked(alert_id)
    _move(alert, AlertStatus.ESCALATED, actor)
    CaseNote.objects.create(alert=alert, author=actor, body=f"Escalated: {reason.strip()}")
    return alert


@transaction.atomic
def alert_resolve(*, alert_id: int, actor: AbstractBaseUser, resolution: str, reason: str) -> Alert:
    if resolution not in Resolution.values:
        raise WorkflowError(f"resolution must be one of {', '.join(Resolution.values)}, not {resolution!r}")
    if not reason.strip():
        raise WorkflowError("a resolution needs a reason")
    alert = _locked(alert_id)
    if alert.str_decided_at:
        raise WorkflowError(f"alert {alert_id} is marked for STR (due {alert.str_due_on}); file the STR instead")
    _move(alert, AlertStatus.RESOLVED, actor, resolution=resolution)
    CaseNote.objects.create(alert=alert, author=actor, body=f"Resolved ({resolution}): {reason.strip()}")
    return alert


@transaction.atomic
def alert_mark_for_str(*, alert_id: int, actor: AbstractBaseUser, grounds: str, decided_at: dt.datetime | None = None) -> Alert:
    """The decision that the case is suspicious: starts the STR clock (7 working days)."""
    if not grounds.strip():
        raise WorkflowError("the grounds of suspicion are required for an STR")
    alert = _locked(alert_id)
    if alert.status != AlertStatus.ESCALATED:
        raise WorkflowError(f"only an escalated case can be marked for STR; alert {alert_id} is {alert.status}")
    if alert.str_decided_at:
        raise WorkflowError(f"alert {alert_id} was already marked for STR on {alert.str_decided_at:%Y-%m-%d}")
    decided_at = decided_at or timezone.now()
    decided_on = timezone.localtime(decided_at).date()
    due = str_due_date(decided_on, holidays_between(decided_on, decided_on + dt.timedelta(days=60)))
    alert.str_decided_at, alert.str_decided_by, alert.str_due_on, alert.str_grounds = decided_at, actor, due, grounds.strip()
    alert.save()
    audit_record(object_type="alert", object_id=alert.pk, action="str_decided", actor=actor,
                 changes={"str_due_on": due.isoformat(), "decided_at": decided_at.isoformat()})
    return alert


@transaction.atomic
def alert_file_str(*, alert_id: int, actor: AbstractBaseUser, reference: str) -> Alert:
    """Record that the STR was filed with FIU-IND (its acknowledgement reference)."""
    if not reference.strip():
        raise WorkflowError("the FIU-IND acknowledgement reference is required")
    alert = _locked(alert_id)
    if not alert.str_decided_at:
        raise WorkflowError(f"alert {alert_id} has not been marked for STR")
    _move(alert, AlertStatus.STR_FILED, actor, str_reference=reference.strip(), str_filed_at=timezone.now())
    return alert


@transaction.atomic
def case_note_add(*, alert_id: int, author: AbstractBaseUser, body: str, attachment_refs: list[str] | None = None) -> CaseNote:
    if not body.strip():
        raise WorkflowError("a note cannot be empty")
    refs = [str(r).strip() for r in (attachment_refs or []) if str(r).strip()]
    alert = _locked(alert_id)
    note = CaseNote.objects.create(alert=alert, author=author, body=body.strip(), attachment_refs=refs)
    audit_record(object_type="alert", object_id=alert.pk, action="note", actor=author,
                 changes={"note_id": note.pk, "attachments": refs})
    return note


@transaction.atomic
def kyc_record_save(
    *, client_id: int, client_code: str, actor: AbstractBaseUser, status: str, risk_level: str,
    document_refs: list | None = None, reviewed_on: dt.date | None = None, remarks: str = "",
) -> MerchantKyc:
    """Create or update a merchant's KYC record. Approving records the review and sets the re-KYC due date."""
    if status not in KycStatus.values:
        raise WorkflowError(f"KYC status must be one of {', '.join(KycStatus.values)}, not {status!r}")
    if risk_level not in kyc_rules.RBI_REKYC_YEARS:
        raise WorkflowError(f"risk level must be one of {', '.join(kyc_rules.RBI_REKYC_YEARS)}, not {risk_level!r}")
    record, _ = MerchantKyc.objects.select_for_update().get_or_create(
        client_id=client_id, defaults={"client_code": client_code}
    )
    before = {"status": record.status, "risk_level": record.risk_level, "next_review_due": str(record.next_review_due)}
    record.client_code, record.status, record.risk_level, record.remarks = client_code, status, risk_level, remarks
    if document_refs is not None:
        record.document_refs = document_refs
    if status == KycStatus.APPROVED:
        record.last_review_on = reviewed_on or timezone.localdate()
        record.reviewer = actor
    if record.last_review_on:
        record.next_review_due = kyc_rules.rekyc_due(record.last_review_on, risk_level)
    record.save()
    after = {"status": record.status, "risk_level": record.risk_level, "next_review_due": str(record.next_review_due)}
    audit_record(object_type="kyc", object_id=record.pk, action="saved", actor=actor,
                 changes={k: [before[k], after[k]] for k in after if before[k] != after[k]})
    return record


@transaction.atomic
def kyc_expire_overdue(*, today: dt.date) -> int:
    """Approved KYC whose periodic re-KYC date has passed becomes EXPIRED (policy; audited)."""
    ids = list(MerchantKyc.objects.select_for_update()
               .filter(status=KycStatus.APPROVED, next_review_due__lt=today).values_list("id", flat=True))
    MerchantKyc.objects.filter(id__in=ids).update(status=KycStatus.EXPIRED, updated_at=timezone.now())
    AuditEntry.objects.bulk_create(
        AuditEntry(object_type="kyc", object_id=i, action="expired", changes={"status": ["APPROVED", "EXPIRED"]})
        for i in ids
    )
    return len(ids)


@transaction.atomic
def report_mark_submitted(*, report_id: int, actor: AbstractBaseUser, reference: str) -> ReportLog:
    if not reference.strip():
        raise WorkflowError("the submission (acknowledgement) reference is required")
    report = ReportLog.objects.select_for_update().get(pk=report_id)
    if report.status == ReportStatus.SUBMITTED:
        raise WorkflowError(f"report {report_id} was already submitted ({report.submission_reference})")
    report.status, report.submitted_by, report.submitted_at = ReportStatus.SUBMITTED, actor, timezone.now()
    report.submission_reference = reference.strip()
    report.save()
    audit_record(object_type="report", object_id=report.pk, action="submitted", actor=actor,
                 changes={"reference": report.submission_reference})
    return report
