"""Helpers: write a settlement CSV, import it, set the rules a test needs."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

GATEWAY_HEADER = ["Order Id", "Reference Id", "Transaction Amount", "Service Charge", "Service Tax",
                  "Settlement Amount", "UTR", "Transaction Time", "Payment Mode", "Transaction Status"]  # fmt: skip


def gateway_line(*, txn_id="", pg_txn_id="", amount="1000.00", fee="0.00", tax="0.00", net=None, utr="",
                 when=dt.datetime(2026, 11, 20, 10, 30), mode="UPI", status="SUCCESS") -> list[str]:  # fmt: skip
    net = amount if net is None else net
    return [txn_id, pg_txn_id, amount, fee, tax, net, utr, when.strftime("%d-%m-%Y %H:%M:%S"), mode, status]


def csv_bytes(header: list[str], lines: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(lines)
    return out.getvalue().encode()


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_user("ops1", password="pw-ops1-long", is_staff=True, is_superuser=True)


@pytest.fixture
def import_file(operator):
    from enhancements.reconciliation.models import MappingProfileRecord
    from enhancements.reconciliation.services import settlement_file_import

    def _import(data: bytes, *, profile="gateway-fee-plus-tax", name="settlement.csv", bad_rows="quarantine"):
        return settlement_file_import(
            stream=io.BytesIO(data), original_name=name, profile=MappingProfileRecord.objects.get(name=profile),
            uploaded_by=operator, bad_rows=bad_rows,
        )  # fmt: skip

    return _import


@pytest.fixture
def gateway_file(import_file):
    def _file(lines: list[list[str]], **kwargs):
        return import_file(csv_bytes(GATEWAY_HEADER, lines), **kwargs)

    return _file


@pytest.fixture
def rules(db):
    """Replace the default rules: rules(dict(kind=..., reference=...), ...) in priority order."""
    from enhancements.reconciliation.models import ReconciliationRule

    def _rules(*specs: dict):
        ReconciliationRule.objects.all().delete()
        made = []
        for priority, spec in enumerate(specs, start=1):
            values = {"name": f"rule {priority}", "priority": priority * 10, "kind": "one_to_one", "date_drift_days": 1}
            values.update(spec)
            made.append(ReconciliationRule.objects.create(**values))
        return made

    return _rules


@pytest.fixture
def reconcile(operator):
    from enhancements.reconciliation.services import reconciliation_run_create, reconciliation_run_execute

    def _reconcile(file, *, dry_run=False, window=None):
        run = reconciliation_run_create(file=file, started_by=operator, dry_run=dry_run)
        return reconciliation_run_execute(run=run, window=window)

    return _reconcile
