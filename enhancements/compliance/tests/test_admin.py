"""Operator flows in the admin: work a case, see the STR clock and overdue reports, tune a rule."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from enhancements.compliance.models import Alert, AuditEntry, MerchantKyc, ReportLog, Rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser(username="boss", password="x", email="b@x.in")
    client.force_login(user)
    return client


def _alert(**extra):
    now = timezone.now()
    return Alert.objects.create(rule_code="HIGH_VALUE", severity="MEDIUM", entity_type="TXN", entity_key="T9",
                                window_key="txn", window_start=now, window_end=now, threshold="t", **extra)


def test_case_is_worked_through_the_admin_form_and_refusals_are_shown(admin_client):
    alert = _alert()
    url = reverse("admin:compliance_alert_change", args=[alert.pk])
    inline = {"notes-TOTAL_FORMS": "0", "notes-INITIAL_FORMS": "0"}
    assert admin_client.get(url).status_code == 200
    bad = admin_client.post(url, {"action": "escalate", "text": "skip", **inline})
    assert bad.status_code == 200 and "cannot move to ESCALATED" in bad.content.decode()
    assert admin_client.post(url, {"action": "review", **inline}).status_code == 302
    admin_client.post(url, {"action": "escalate", "text": "odd pattern", **inline})
    admin_client.post(url, {"action": "mark_str", "text": "grounds of suspicion", **inline})
    alert.refresh_from_db()
    assert alert.status == "ESCALATED" and alert.str_due_on is not None
    listing = admin_client.get(reverse("admin:compliance_alert_changelist")).content.decode()
    assert "STR working days left" in listing
    page = admin_client.get(url).content.decode()
    assert "str_decided" in page and "grounds of suspicion" in page


def test_overdue_report_is_flagged_and_can_be_marked_submitted(admin_client):
    report = ReportLog.objects.create(report_type="CTR", file_format="csv", period_start=dt.date(2026, 9, 1),
                                      period_end=dt.date(2026, 10, 1), file_path="/x", row_count=1, sha256="0" * 64,
                                      due_on=timezone.localdate() - dt.timedelta(days=3))
    listing = admin_client.get(reverse("admin:compliance_reportlog_changelist") + "?deadline=overdue").content.decode()
    assert "overdue by 3 day(s)" in listing
    admin_client.post(reverse("admin:compliance_reportlog_change", args=[report.pk]), {"reference": "ACK-77"})
    report.refresh_from_db()
    assert (report.status, report.submission_reference) == ("SUBMITTED", "ACK-77")


def test_rule_threshold_change_is_audited(admin_client):
    rule = Rule.objects.get(code="HIGH_VALUE")
    url = reverse("admin:compliance_rule_change", args=[rule.pk])
    data = {"enabled": "on", "severity": "HIGH", "threshold_amount": "300000.00", "threshold_count": "",
            "threshold_ratio": "", "window_minutes": "", "min_count": "", "params": "{}",
            "rationale": rule.rationale, "source": rule.source}  # fmt: skip
    assert admin_client.post(url, data).status_code == 302
    rule.refresh_from_db()
    assert str(rule.threshold_amount) == "300000.00" and rule.severity == "HIGH"
    entry = AuditEntry.objects.get(object_type="rule", object_id=rule.pk)
    assert {"severity", "threshold_amount"} <= set(entry.changes) and "enabled" not in entry.changes
    assert entry.changes["threshold_amount"] == "300000.00"


def test_kyc_record_saved_in_admin_gets_its_rekyc_date(admin_client):
    data = {"client_id": "501", "client_code": "TC501", "status": "APPROVED", "risk_level": "HIGH",
            "document_refs": '[{"type": "PAN", "ref": "DMS-5"}]', "last_review_on": "2026-01-15", "remarks": ""}
    assert admin_client.post(reverse("admin:compliance_merchantkyc_add"), data).status_code == 302
    assert MerchantKyc.objects.get(client_id=501).next_review_due == dt.date(2028, 1, 15)
