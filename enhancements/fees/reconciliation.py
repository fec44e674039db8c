"""Fee reconciliation: what the core charged vs what the configuration says, per merchant
per period, in one SQL statement (totals and the per-transaction discrepancy list are
written by data-modifying CTEs over the same priced rows).

A transaction is a discrepancy when no configuration covers it (and its mode is not
zero-MDR by statute) or when the charged fee or GST differs from the expected one by
any amount (compared to the paisa; the core's float8 columns are rounded first).
Promotions are not applied: the reconciliation checks the configuration.
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.db import connection, transaction
from django.utils import timezone

from enhancements.events.outbox import NewEvent, publish_many

from .models import FeeDiscrepancy, FeeReconciliation, ReconciliationStatus, Resolution
from .pricing_sql import naive_bounds, priced_ctes, transactions_sql, use_batch_memory
from .selectors import pricing_features
from .validation import FeeValidationError

EVENT_TYPE = "fee.reconciliation_completed"


def month_period(month: dt.date) -> tuple[dt.date, dt.date]:
    start = dt.date(month.year, month.month, 1)
    return start, (start + dt.timedelta(days=32)).replace(day=1)


@transaction.atomic
def fee_reconciliation_run(
    *, period_start: dt.date, period_end: dt.date, client_ids: list[int] | None = None, requested_by: str
) -> list[FeeReconciliation]:
    """Reconcile [period_start, period_end) (India calendar dates) for the given merchants,
    or every merchant with fee-bearing transactions; one fee_reconciliation row per merchant.
    Publishes fee.reconciliation_completed per merchant in the same transaction."""
    if not isinstance(period_start, dt.date) or isinstance(period_start, dt.datetime) or period_end <= period_start:
        raise FeeValidationError({"period_end": "must be a date after period_start"})
    if client_ids is not None and not client_ids:
        raise FeeValidationError({"client_ids": "empty list; pass None for every merchant"})
    run_id = uuid.uuid4()
    with_platform, with_tiers = pricing_features()
    sql, params = priced_ctes(txn_sql=transactions_sql(client_ids=client_ids is not None),
                              with_platform=with_platform, with_tiers=with_tiers, proposal=None)  # fmt: skip
    params.update(naive_bounds(period_start, period_end))
    params.update(client_ids=client_ids, run_id=run_id, p_start=period_start, p_end=period_end,
                  requested_by=requested_by, now=timezone.now())  # fmt: skip
    mismatch = "(NOT p.priced OR p.charged_fee <> p.fee OR p.charged_gst <> p.gst)"
    rec, disc = FeeReconciliation._meta.db_table, FeeDiscrepancy._meta.db_table
    with connection.cursor() as cursor:
        use_batch_memory(cursor)
        cursor.execute(
            f"""{sql},
            checked AS (  -- only what the two writers need, so the shared intermediate stays narrow
                SELECT client_id, client_code, txn_id, trans_date, payment_mode, amount, charged_fee, charged_gst,
                       fee, gst, priced, mdr_config_id
                FROM priced
            ),
            totals AS (
                SELECT p.client_id, max(p.client_code) AS client_code, count(*) AS n,
                       sum(p.charged_fee) AS charged_fee, sum(p.charged_gst) AS charged_gst,
                       sum(p.fee) FILTER (WHERE p.priced) AS expected_fee, sum(p.gst) FILTER (WHERE p.priced) AS expected_gst,
                       count(*) FILTER (WHERE {mismatch}) AS discrepancies, count(*) FILTER (WHERE NOT p.priced) AS unconfigured
                FROM checked p GROUP BY p.client_id
            ),
            recs AS (
                INSERT INTO {rec} (run_id, client_id, client_code, period_start, period_end, status, txn_count,
                    charged_fee, charged_gst, expected_fee, expected_gst, fee_variance, gst_variance, discrepancy_count,
                    unconfigured_count, requested_by, created_at)
                SELECT %(run_id)s, t.client_id, coalesce(t.client_code, ''), %(p_start)s, %(p_end)s,
                    CASE WHEN t.discrepancies > 0 THEN 'open' ELSE 'clean' END, t.n, t.charged_fee, t.charged_gst,
                    coalesce(t.expected_fee, 0), coalesce(t.expected_gst, 0),
                    t.charged_fee - coalesce(t.expected_fee, 0), t.charged_gst - coalesce(t.expected_gst, 0),
                    t.discrepancies, t.unconfigured, %(requested_by)s, %(now)s
                FROM totals t
                RETURNING id, client_id
            )
            INSERT INTO {disc} (reconciliation_id, client_id, txn_id, trans_date, payment_mode, amount, charged_fee,
                charged_gst, expected_fee, expected_gst, fee_variance, gst_variance, reason, mdr_config_id, resolution,
                resolution_note)
            SELECT r.id, p.client_id, p.txn_id, p.trans_date AT TIME ZONE %(tz)s, coalesce(p.payment_mode, ''), p.amount,
                p.charged_fee, p.charged_gst,
                CASE WHEN p.priced THEN p.fee END, CASE WHEN p.priced THEN p.gst END,
                CASE WHEN p.priced THEN p.charged_fee - p.fee END, CASE WHEN p.priced THEN p.charged_gst - p.gst END,
                CASE WHEN NOT p.priced THEN 'no_configuration' WHEN p.charged_fee <> p.fee THEN 'fee_mismatch'
                     ELSE 'gst_mismatch' END,
                p.mdr_config_id, 'open', ''
            FROM checked p JOIN recs r ON r.client_id = p.client_id
            WHERE {mismatch}""",
            params,
        )  # fmt: skip
    reconciliations = list(FeeReconciliation.objects.filter(run_id=run_id).order_by("client_id"))
    publish_many([
        NewEvent(event_key=f"fee.reconciliation_completed:{r.pk}", type=EVENT_TYPE, occurred_at=r.created_at,
                 client_id=r.client_id, client_code=r.client_code or None, payload=reconciliation_payload(r))
        for r in reconciliations
    ])  # fmt: skip
    return reconciliations


def reconciliation_payload(r: FeeReconciliation) -> dict:
    return {
        "reconciliation_id": r.pk, "client_id": r.client_id, "client_code": r.client_code,
        "period_start": r.period_start.isoformat(), "period_end": r.period_end.isoformat(), "status": r.status,
        "txn_count": r.txn_count, "charged_fee": str(r.charged_fee), "charged_gst": str(r.charged_gst),
        "expected_fee": str(r.expected_fee), "expected_gst": str(r.expected_gst), "fee_variance": str(r.fee_variance),
        "gst_variance": str(r.gst_variance), "discrepancy_count": r.discrepancy_count,
        "unconfigured_count": r.unconfigured_count, "completed_at": r.created_at.isoformat(),
    }  # fmt: skip


@transaction.atomic
def fee_discrepancy_resolve(*, discrepancy_id: int, resolution: str, note: str, resolved_by) -> FeeDiscrepancy:
    """An operator settles one discrepancy; the reconciliation becomes resolved with its last."""
    if not getattr(resolved_by, "is_staff", False):
        raise FeeValidationError({"resolved_by": "only staff operators may resolve discrepancies"})
    if resolution not in Resolution.values or resolution == Resolution.OPEN:
        choices = ", ".join(v for v in Resolution.values if v != Resolution.OPEN)
        raise FeeValidationError({"resolution": f"one of {choices}"})
    if not (note or "").strip():
        raise FeeValidationError({"note": "say why (it is the audit trail)"})
    item = FeeDiscrepancy.objects.select_for_update().select_related("reconciliation").get(pk=discrepancy_id)
    if item.resolution != Resolution.OPEN:
        raise FeeValidationError({"resolution": f"already resolved as {item.resolution} by {item.resolved_by}"})
    item.resolution, item.resolution_note = resolution, note.strip()
    item.resolved_by, item.resolved_at = resolved_by, timezone.now()
    item.save(update_fields=["resolution", "resolution_note", "resolved_by", "resolved_at"])
    rec = FeeReconciliation.objects.select_for_update().get(pk=item.reconciliation_id)
    if not rec.discrepancies.filter(resolution=Resolution.OPEN).exists():
        rec.status = ReconciliationStatus.RESOLVED
        rec.save(update_fields=["status"])
    return item
