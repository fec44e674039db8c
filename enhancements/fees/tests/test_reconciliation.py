"""Fee reconciliation against core rows, the set-based pricing agreeing with the Python
calculator, bulk calculation logging, and log partitions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from django.db import connection

from enhancements.events.models import OutboxEvent
from enhancements.fees.calculation import fee_bulk_calculate, fee_calculate
from enhancements.fees.maintenance import fee_log_partitions_maintain
from enhancements.fees.models import FeeCalculationLog
from enhancements.fees.reconciliation import fee_discrepancy_resolve, fee_reconciliation_run
from enhancements.fees.validation import FeeValidationError

core = pytest.mark.django_db(databases=["default", "core"])
NOV = dt.date(2026, 11, 1)
DEC = dt.date(2026, 12, 1)


def txn(core_rows, client_id, amount, conv, gst, mode="Credit Card", **kw):
    return core_rows.transaction(client_id=client_id, client_code=f"TC{client_id}", paid_amount=amount, act_amount=amount,
                                 convcharges=conv, ep_charges=0.0, gst=gst, conv_gst=gst, endpoint_gst=0.0,
                                 payment_mode=mode, **kw)  # fmt: skip


@core
def test_reconciliation_totals_variance_and_discrepancy_list(approved, core_rows, operators):
    _, checker = operators
    approved(client_id=5101, percent="2")
    ok = txn(core_rows, 5101, 10000.0, 200.0, 36.0)
    over = txn(core_rows, 5101, 5000.0, 125.0, 22.5)  # 2.5% charged, 2% configured
    bad_gst = txn(core_rows, 5101, 1000.0, 20.0, 3.0)  # GST should be 3.60
    txn(core_rows, 5101, 7000.0, 0.0, 0.0, status="FAILED", sabpaisa_resp_code="0300")  # no fee: ignored
    txn(core_rows, 5101, 3000.0, 0.0, 0.0, mode="UPI")  # zero MDR: expected 0, matches
    wallet = txn(core_rows, 5101, 400.0, 7.2, 1.3, mode="Wallet")  # nothing configured for Wallet
    txn(core_rows, 5101, 999.0, 99.0, 9.0, trans_date=dt.datetime(2026, 12, 1, 0, 0))  # next month: out of period
    [rec] = fee_reconciliation_run(period_start=NOV, period_end=DEC, requested_by="ops")
    assert (rec.client_id, rec.txn_count, rec.status) == (5101, 5, "open")
    assert (rec.charged_fee, rec.charged_gst) == (D("352.20"), D("62.80"))
    # expected: 200 + 100 + 20 + 0 (UPI); GST 36 + 18 + 3.60 + 0; the unconfigured Wallet row adds nothing
    assert (rec.expected_fee, rec.expected_gst) == (D("320.00"), D("57.60"))
    assert (rec.fee_variance, rec.gst_variance, rec.discrepancy_count, rec.unconfigured_count) == (
        D("32.20"), D("5.20"), 3, 1)
    lines = {d.txn_id: d for d in rec.discrepancies.all()}
    assert set(lines) == {over["txn_id"], bad_gst["txn_id"], wallet["txn_id"]}
    assert (lines[over["txn_id"]].reason, lines[over["txn_id"]].fee_variance) == ("fee_mismatch", D("25.00"))
    assert (lines[bad_gst["txn_id"]].reason, lines[bad_gst["txn_id"]].gst_variance) == ("gst_mismatch", D("-0.60"))
    assert (lines[wallet["txn_id"]].reason, lines[wallet["txn_id"]].expected_fee) == ("no_configuration", None)
    assert ok["txn_id"] not in lines
    event = OutboxEvent.objects.get(type="fee.reconciliation_completed", client_id=5101)
    assert event.payload["fee_variance"] == "32.20" and event.payload["discrepancy_count"] == 3

    with pytest.raises(FeeValidationError, match="why"):
        fee_discrepancy_resolve(discrepancy_id=lines[over["txn_id"]].pk, resolution="adjustment", note="", resolved_by=checker)
    for line in lines.values():
        fee_discrepancy_resolve(discrepancy_id=line.pk, resolution="adjustment", note="raised with core ops", resolved_by=checker)
    rec.refresh_from_db()
    assert rec.status == "resolved"
    with pytest.raises(FeeValidationError, match="already resolved"):
        fee_discrepancy_resolve(discrepancy_id=lines[over["txn_id"]].pk, resolution="accepted", note="x", resolved_by=checker)


@core
def test_reconciliation_of_a_merchant_with_matching_charges_is_clean(approved, core_rows):
    approved(client_id=None, percent="2")
    txn(core_rows, 5201, 10000.0, 200.0, 36.0)
    txn(core_rows, 5202, 500.0, 50.0, 9.0)  # another merchant, not asked for
    [rec] = fee_reconciliation_run(period_start=NOV, period_end=DEC, client_ids=[5201], requested_by="ops")
    assert (rec.status, rec.discrepancy_count, rec.fee_variance) == ("clean", 0, D("0.00"))


AMOUNTS = ["0.01", "1.00", "99.99", "100.00", "101.00", "999.99", "1000.00", "1000.01", "2500.50", "10000.00",
           "123456.78", "2.50"]  # fmt: skip


@core
def test_set_based_pricing_matches_the_calculator_and_bulk_logs_every_row(approved, core_rows):
    approved(client_id=5301, structure="slab", min_fee="1.00", max_fee="100.00", slabs=[
        {"lower": "0", "lower_inclusive": True, "upper": "100", "upper_inclusive": True, "fixed": "2"},
        {"lower": "100", "lower_inclusive": False, "upper": "1000", "upper_inclusive": False, "percent": "1.25", "fixed": "0.5"},
        {"lower": "1000", "lower_inclusive": True, "upper": None, "percent": "0.75"}])  # fmt: skip
    approved(client_id=None, structure="percentage_fixed", percent="1.9", fixed_amount="0.35", gst_rate="12.5")
    approved(client_id=5301, fee_type="platform", structure="flat", fixed_amount="0.99")
    approved(client_id=5301, payment_mode="Wallet", structure="volume_tier", tiers=[
        {"min_volume": "0", "percent": "2"}, {"min_volume": "500", "percent": "1"}])  # fmt: skip
    txn(core_rows, 5301, 600.0, 0, 0, mode="Wallet", trans_date=dt.datetime(2026, 10, 3, 9))  # October volume
    rows = []
    for i, amount in enumerate(AMOUNTS):
        for client, mode in ((5301, "Credit Card"), (5302, "Credit Card"), (5301, "Wallet")):
            rows.append(txn(core_rows, client, float(amount), 0, 0, mode=mode, trans_date=dt.datetime(2026, 11, 2 + i, 10)))
    result = fee_bulk_calculate(start=NOV, end=DEC, chunk_days=9)
    assert result == {"logged": len(rows), "unpriced": 0}
    logged = {r.txn_id: r for r in FeeCalculationLog.objects.filter(source="bulk")}
    for row in rows:
        at = row["trans_date"].replace(tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))
        expected = fee_calculate(client_id=row["client_id"], client_code="x", payment_mode=row["payment_mode"],
                                 amount=f"{row['paid_amount']:.2f}", at=at, quote=True).result  # fmt: skip
        got = logged[row["txn_id"]]
        assert (got.fee, got.gst, got.net_amount, got.amount) == (expected.fee, expected.gst, expected.net_amount, expected.amount), row
        assert got.transaction_at == at
    # idempotent per txn_id: a rerun of the period logs nothing again
    assert fee_bulk_calculate(start=NOV, end=DEC, chunk_days=9) == {"logged": 0, "unpriced": 0}
    assert FeeCalculationLog.objects.filter(source="bulk").count() == len(rows)


@pytest.mark.django_db(databases=["default", "core"])
def test_log_partitions_are_created_ahead_and_dropped_after_retention(settings):
    settings.FEES_LOG_RETENTION_MONTHS = 2
    fee_log_partitions_maintain(today=dt.date(2026, 1, 15))
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('fee_calculation_log_p202601'), to_regclass('fee_calculation_log_p202603')")
        assert all(cursor.fetchone())
    result = fee_log_partitions_maintain(today=dt.date(2026, 4, 2))
    assert "fee_calculation_log_p202601" in result["dropped"] and "fee_calculation_log_p202606" in result["created"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('fee_calculation_log_p202601'), to_regclass('fee_calculation_log_p202602')")
        assert cursor.fetchone() == (None, "fee_calculation_log_p202602")


@core
def test_monthly_beat_job_and_on_demand_command(approved, core_rows):
    from io import StringIO

    from django.core.management import CommandError, call_command
    from django.utils import timezone
    from django_celery_beat.models import PeriodicTask

    from core_legacy.fields import core_tz
    from enhancements.fees.models import FeeReconciliation
    from enhancements.fees.preview import last_month
    from enhancements.fees.tasks import reconcile_previous_month

    assert set(PeriodicTask.objects.filter(task__startswith="fees.").values_list("task", flat=True)) == {
        "fees.reconcile_previous_month", "fees.maintain_log_partitions"}
    approved(client_id=None, percent="2")
    start, end = last_month(timezone.now().astimezone(core_tz()).date())
    txn(core_rows, 5401, 1000.0, 25.0, 4.5, trans_date=dt.datetime.combine(start, dt.time(9)))
    assert reconcile_previous_month() == 1
    rec = FeeReconciliation.objects.get(requested_by="beat")
    assert (rec.period_start, rec.period_end, rec.client_id, rec.fee_variance) == (start, end, 5401, D("5.00"))
    out = StringIO()
    call_command("fees_reconcile", "--month", f"{start:%Y-%m}", "--client-id", "5401", stdout=out, stderr=StringIO())
    assert "5401" in out.getvalue() and "variance 5.00" in out.getvalue()
    with pytest.raises(CommandError, match="2026-10"):
        call_command("fees_reconcile", "--month", "Oct", stdout=StringIO(), stderr=StringIO())


@pytest.mark.django_db(transaction=True, databases=["default", "core"])
def test_bulk_calculation_with_concurrent_workers_logs_each_row_once(approved, core_rows):
    approved(client_id=None, percent="2")
    rows = [txn(core_rows, 5501, 1000.0 * (n + 1), 0, 0, trans_date=dt.datetime(2026, 11, 1 + n, 10)) for n in range(6)]
    try:
        assert fee_bulk_calculate(start=NOV, end=DEC, chunk_days=2, workers=2) == {"logged": 6, "unpriced": 0}
        fees = dict(FeeCalculationLog.objects.filter(client_id=5501).values_list("txn_id", "fee"))
        assert fees == {r["txn_id"]: D(20 * (n + 1)).quantize(D("0.01")) for n, r in enumerate(rows)}
        # a rerun (other chunking) logs only the payment that is new since: one row per txn_id
        late = txn(core_rows, 5501, 500.0, 0, 0, trans_date=dt.datetime(2026, 11, 3, 12))
        txn(core_rows, 5501, 300.0, 6.0, 1.08, mode="Wallet", trans_date=dt.datetime(2026, 11, 4, 12))  # no config
        assert fee_bulk_calculate(start=NOV, end=DEC, chunk_days=3, workers=2) == {"logged": 1, "unpriced": 1}
        logged = list(FeeCalculationLog.objects.filter(client_id=5501).values_list("txn_id", flat=True))
        assert sorted(logged) == sorted([r["txn_id"] for r in rows] + [late["txn_id"]])
        # rows land in the month partition of calculated_at, never in the default partition
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM fee_calculation_log_default WHERE client_id = 5501")
            assert cursor.fetchone() == (0,)
    finally:  # the unmanaged log is not flushed between tests
        FeeCalculationLog.objects.filter(client_id=5501).delete()


@core
def test_amount_outside_a_merchants_slabs_is_unpriced_not_priced_by_the_default(approved, core_rows):
    # pricing_terms adds a rate-less "gap" term below the first slab: the merchant's version
    # still covers the transaction (as before the terms were flattened), so the default's
    # rate must not be used; the calculator refuses such an amount too.
    slab = approved(client_id=5401, structure="slab", slabs=[
        {"lower": "0", "lower_inclusive": True, "upper": None, "percent": "1"}])  # fmt: skip
    approved(client_id=None, percent="2")
    negative = txn(core_rows, 5401, -50.0, 0.0, 0.0)
    txn(core_rows, 5401, 100.0, 1.0, 0.18)
    [rec] = fee_reconciliation_run(period_start=NOV, period_end=DEC, requested_by="ops")
    assert (rec.txn_count, rec.discrepancy_count, rec.unconfigured_count) == (2, 1, 1)
    [line] = rec.discrepancies.all()
    assert (line.txn_id, line.reason, line.mdr_config_id) == (negative["txn_id"], "no_configuration", slab.pk)


@core
def test_reconciliation_pricing_select_is_parallel_safe(approved):
    # The reconciliation's speed rests on its per-transaction SELECT running in parallel
    # workers: no CTE scan, no OFFSET fence, no parallel-unsafe call. On these few rows the
    # planner would not choose workers, so ask it to put the whole plan under a Gather, which
    # it does only when every node is parallel-safe.
    from enhancements.fees.pricing_sql import naive_bounds, priced_ctes, pricing_terms, transactions_sql
    from enhancements.fees.reconciliation import _grouped_sql

    approved(client_id=5501, structure="slab", slabs=[
        {"lower": "0", "lower_inclusive": True, "upper": None, "percent": "1"}])  # fmt: skip
    approved(client_id=5501, payment_mode="Wallet", structure="volume_tier", tiers=[{"min_volume": "0", "percent": "2"}])
    approved(client_id=5501, fee_type="platform", structure="flat", fixed_amount="0.50")
    bounds = naive_bounds(NOV, DEC)
    with connection.cursor() as cursor:
        terms = pricing_terms(cursor, proposal=None, **bounds)
        ctes, priced, params = priced_ctes(txn_sql=transactions_sql(client_ids=False), with_platform=True,
                                           with_tiers=True, terms=terms)  # fmt: skip
        params.update(bounds)
        force = "debug_parallel_query" if connection.pg_version >= 160000 else "force_parallel_mode"
        cursor.execute(f"SET LOCAL {force} = on")
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 2")
        cursor.execute("EXPLAIN " + _grouped_sql(ctes, priced), params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert plan.startswith("Gather") and "CTE Scan" not in plan, plan


@core
def test_default_prices_the_time_a_merchants_own_version_does_not_cover(approved, core_rows):
    # pricing_terms gives a merchant with its own version a copy of the default cut to the
    # time that version does not cover (here: before 15 Nov, India time).
    approved(client_id=None, percent="2")
    approved(client_id=None, payment_mode="Wallet", percent="2")
    own = approved(client_id=5601, percent="1",
                   effective_from=dt.datetime(2026, 11, 15, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))))
    before = txn(core_rows, 5601, 1000.0, 20.0, 3.6, trans_date=dt.datetime(2026, 11, 14, 23, 59))
    after = txn(core_rows, 5601, 1000.0, 20.0, 3.6, trans_date=dt.datetime(2026, 11, 15, 0, 0))
    txn(core_rows, 5601, 500.0, 10.0, 1.8, mode="Wallet", trans_date=dt.datetime(2026, 11, 20, 10))  # no own Wallet version
    [rec] = fee_reconciliation_run(period_start=NOV, period_end=DEC, requested_by="ops")
    assert (rec.expected_fee, rec.discrepancy_count) == (D("40.00"), 1)  # 20 (default) + 10 (own 1%) + 10 (Wallet default)
    [line] = rec.discrepancies.all()
    assert (line.txn_id, line.expected_fee, line.mdr_config_id) == (after["txn_id"], D("10.00"), own.pk)
    assert before["txn_id"] != line.txn_id
