"""The operator's workflow in the admin: import, reconcile, assign, comment, resolve, filter."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from enhancements.reconciliation.models import Mismatch, ReconciliationRun, SettlementFile

from .conftest import GATEWAY_HEADER, csv_bytes, gateway_line

pytestmark = pytest.mark.django_db(databases=["default", "core"])


@pytest.fixture
def admin_client_ops(client, operator):
    client.force_login(operator)
    return client


def _upload(client, data: bytes, name="s.csv", bad_rows="quarantine"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from enhancements.reconciliation.models import MappingProfileRecord

    profile = MappingProfileRecord.objects.get(name="gateway-fee-plus-tax")
    return client.post(reverse("admin:reconciliation_import"),
                       {"file": SimpleUploadedFile(name, data), "profile": profile.pk, "bad_rows": bad_rows})  # fmt: skip


def test_import_reconcile_and_work_mismatches_through_the_admin(admin_client_ops, core_rows, rules, operator):
    rules({"reference": "txn_id"})
    t = [core_rows.transaction(paid_amount=p) for p in (100.0, 200.0, 150000.0)]
    data = csv_bytes(GATEWAY_HEADER, [gateway_line(txn_id=t[0]["txn_id"], amount="100.00"),
                                      gateway_line(txn_id="GHOST", amount="20.00")])  # fmt: skip
    response = _upload(admin_client_ops, data)
    assert response.status_code == 302
    file = SettlementFile.objects.get()
    again = _upload(admin_client_ops, data, name="copy.csv")
    assert again.status_code == 200 and "already imported" in again.content.decode()

    changelist = reverse("admin:reconciliation_settlementfile_changelist")
    response = admin_client_ops.post(changelist, {"action": "reconcile", "_selected_action": [file.pk]}, follow=True)
    assert "match rate 50.00%" in response.content.decode()
    run = ReconciliationRun.objects.get(file=file)
    page = admin_client_ops.get(reverse("admin:reconciliation_reconciliationrun_change", args=[run.pk])).content.decode()
    assert "MISSING_IN_BANK" in page and "150200.00" in page  # per-type count and amount

    mismatches = reverse("admin:reconciliation_mismatch_changelist")
    ids = list(Mismatch.objects.values_list("pk", flat=True))
    assert len(ids) == 3
    admin_client_ops.post(mismatches, {"action": "assign_to_me", "_selected_action": ids})
    admin_client_ops.post(mismatches, {"action": "add_comment", "_selected_action": ids, "comment": "looking"})
    bad = admin_client_ops.post(mismatches, {"action": "resolve", "_selected_action": ids, "reason": ""}, follow=True)
    assert any("the reason must be one of" in m.message for m in bad.context["messages"])
    assert not Mismatch.objects.filter(state="RESOLVED").exists()
    admin_client_ops.post(mismatches, {"action": "resolve", "_selected_action": ids[:2], "reason": "write_off",
                                       "comment": "below threshold"})  # fmt: skip
    resolved = Mismatch.objects.filter(state="RESOLVED")
    assert resolved.count() == 2 and {m.resolved_by for m in resolved} == {operator}
    assert {m.assigned_to for m in Mismatch.objects.all()} == {operator}
    first = Mismatch.objects.get(pk=ids[0])
    assert list(first.history.values_list("action", "comment")) == [
        ("assigned", ""), ("commented", "looking"), ("resolved", "below threshold")
    ]
    # Filters by amount and age.
    large = admin_client_ops.get(mismatches, {"amount_band": "large"}).context["cl"].result_list
    assert [m.amount for m in large] == [150000]
    Mismatch.objects.filter(pk=ids[0]).update(created_at=timezone.now() - dt.timedelta(days=10))
    old = admin_client_ops.get(mismatches, {"age": "30d"}).context["cl"].result_list
    assert [m.pk for m in old] == [ids[0]]
    # History survives: mismatches cannot be deleted from the admin.
    assert admin_client_ops.get(reverse("admin:reconciliation_mismatch_delete", args=[ids[0]])).status_code == 403


def test_all_or_nothing_upload_with_bad_rows_shows_the_report(admin_client_ops):
    data = csv_bytes(GATEWAY_HEADER, [gateway_line(txn_id="A"), ["B", "", "x"]])
    response = _upload(admin_client_ops, data, bad_rows="all_or_nothing")
    file = SettlementFile.objects.get()
    assert response.status_code == 302 and file.status == "rejected"
    page = admin_client_ops.get(reverse("admin:reconciliation_settlementfile_change", args=[file.pk])).content.decode()
    assert "wrong column count" in page
