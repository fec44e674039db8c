"""Case workflow with its audit trail, the STR clock, and KYC monitoring."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from enhancements.compliance.models import Alert, AuditEntry, Holiday, KycStatus, MerchantKyc
from enhancements.compliance.rules.kyc_scan import kyc_scan
from enhancements.compliance.selectors import str_days_left
from enhancements.compliance.services import (
    WorkflowError,
    alert_assign,
    alert_escalate,
    alert_file_str,
    alert_mark_for_str,
    alert_resolve,
    alert_start_review,
    case_note_add,
    kyc_record_save,
)

from .conftest import alerts_for

pytestmark = pytest.mark.django_db
IST = ZoneInfo("Asia/Kolkata")


def _alert(**extra) -> Alert:
    fields = dict(rule_code="HIGH_VALUE", severity="MEDIUM", entity_type="TXN", entity_key="T1", window_key="txn",
                  window_start=dt.datetime(2026, 11, 2, tzinfo=dt.UTC), window_end=dt.datetime(2026, 11, 2, tzinfo=dt.UTC),
                  client_id=1, client_code="TC1", threshold="amount >= Rs 200000.00",
                  evidence={"txn_ids": ["T1"], "amounts": ["250000.00"]})  # fmt: skip
    fields.update(extra)
    return Alert.objects.create(**fields)


def test_full_case_to_str_filed_with_audit_trail(operator, supervisor):
    alert = _alert()
    Holiday.objects.create(day=dt.date(2026, 11, 23), name="Test holiday")
    alert_assign(alert_id=alert.pk, assignee=operator, actor=supervisor)
    alert_start_review(alert_id=alert.pk, actor=operator)
    case_note_add(alert_id=alert.pk, author=operator, body="Payer has no history", attachment_refs=["DMS-991", " "])
    alert_escalate(alert_id=alert.pk, actor=operator, reason="Amount inconsistent with merchant profile")
    decided = dt.datetime(2026, 11, 20, 16, 0, tzinfo=IST)  # a Friday
    alert = alert_mark_for_str(alert_id=alert.pk, actor=supervisor, grounds="Layering via refunds", decided_at=decided)
    assert alert.str_due_on == dt.date(2026, 12, 2)  # 7 working days, Monday 23 a holiday
    assert str_days_left(alert, today=dt.date(2026, 11, 27)) == 3  # Mon 30, Tue 1, Wed 2
    assert str_days_left(alert, today=dt.date(2026, 12, 3)) == -1
    with pytest.raises(WorkflowError, match="file the STR"):
        alert_resolve(alert_id=alert.pk, actor=supervisor, resolution="ACTION_TAKEN", reason="x")
    alert = alert_file_str(alert_id=alert.pk, actor=supervisor, reference="FIU-ACK-1")
    assert alert.status == "STR_FILED" and alert.closed_at is not None and str_days_left(alert) is None
    trail = list(AuditEntry.objects.filter(object_type="alert", object_id=alert.pk).values_list("action", "actor__username"))
    assert trail == [("assigned", "mlro"), ("status:UNDER_REVIEW", "analyst"), ("note", "analyst"),
                     ("status:ESCALATED", "analyst"), ("str_decided", "mlro"), ("status:STR_FILED", "mlro")]  # fmt: skip
    notes = list(alert.notes.values_list("body", "attachment_refs"))
    assert notes[0] == ("Payer has no history", ["DMS-991"]) and notes[1][0].startswith("Escalated: Amount")


def test_illegal_moves_are_refused_and_change_nothing(operator):
    alert = _alert()
    with pytest.raises(WorkflowError, match="cannot move to ESCALATED"):
        alert_escalate(alert_id=alert.pk, actor=operator, reason="skip review")
    with pytest.raises(WorkflowError, match="only an escalated case"):
        alert_mark_for_str(alert_id=alert.pk, actor=operator, grounds="g")
    alert_start_review(alert_id=alert.pk, actor=operator)
    with pytest.raises(WorkflowError, match="resolution must be one of"):
        alert_resolve(alert_id=alert.pk, actor=operator, resolution="MAYBE", reason="r")
    alert_resolve(alert_id=alert.pk, actor=operator, resolution="FALSE_POSITIVE", reason="Known corporate payer")
    with pytest.raises(WorkflowError, match="closed"):
        alert_assign(alert_id=alert.pk, assignee=operator, actor=operator)
    alert.refresh_from_db()
    assert (alert.status, alert.resolution, alert.assigned_to) == ("RESOLVED", "FALSE_POSITIVE", operator)
    with pytest.raises(WorkflowError, match="does not exist"):
        alert_start_review(alert_id=999999, actor=operator)


def test_kyc_approval_sets_the_rekyc_date_and_alerts_before_and_at_due(operator):
    high = kyc_record_save(client_id=301, client_code="TC301", actor=operator, status="APPROVED", risk_level="HIGH",
                           reviewed_on=dt.date(2024, 12, 1), document_refs=[{"type": "PAN", "ref": "DMS-1"}])
    assert high.next_review_due == dt.date(2026, 12, 1) and high.reviewer == operator
    low = kyc_record_save(client_id=302, client_code="TC302", actor=operator, status="APPROVED", risk_level="LOW",
                          reviewed_on=dt.date(2016, 11, 1))
    assert low.next_review_due == dt.date(2026, 11, 1)
    kyc_record_save(client_id=303, client_code="TC303", actor=operator, status="APPROVED", risk_level="MEDIUM",
                    reviewed_on=dt.date(2019, 2, 1))  # due 2027-02-01: outside the 60-day reminder window
    result = kyc_scan(today=dt.date(2026, 11, 10))
    assert (result.due_soon, result.due, result.expired) == (1, 1, 1)
    assert [a.entity_key for a in alerts_for("REKYC_DUE_SOON")] == ["301"]
    assert [(a.entity_key, a.window_key) for a in alerts_for("REKYC_DUE")] == [("302", "due@2026-11-01")]
    assert MerchantKyc.objects.get(client_id=302).status == KycStatus.EXPIRED
    again = kyc_scan(today=dt.date(2026, 11, 11))
    assert (again.due_soon, again.due, again.expired) == (0, 0, 0)
    # On the due date itself the reminder becomes a due alert.
    kyc_scan(today=dt.date(2026, 12, 1))
    assert [a.entity_key for a in alerts_for("REKYC_DUE")] == ["302", "301"]


def test_kyc_bad_input_is_refused(operator):
    with pytest.raises(WorkflowError, match="risk level"):
        kyc_record_save(client_id=304, client_code="TC304", actor=operator, status="APPROVED", risk_level="EXTREME")
    with pytest.raises(WorkflowError, match="KYC status"):
        kyc_record_save(client_id=304, client_code="TC304", actor=operator, status="OK", risk_level="LOW")
    assert not MerchantKyc.objects.filter(client_id=304).exists()
