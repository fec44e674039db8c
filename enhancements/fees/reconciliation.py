"""Fee reconciliation: what the core charged vs what the configuration says, per merchant
per period: one read-only grouped pricing SELECT (parallel-capable), then the per-merchant
totals and the per-transaction discrepancy list written from its (small) result.

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
from .pricing_sql import FENCE, naive_bounds, priced_ctes, pricing_terms, transactions_sql, use_batch_memory
from .selectors import pricing_features
from .validation import FeeValidationError

EVENT_TYPE = "fee.reconciliation_completed"


def month_period(month: dt.date) -> tuple[dt.date, dt.date]:
    start = dt.date(month.year, month.month, 1)
    return start, (start + dt.timedelta(days=32)).replace(day=1)


# The per-transaction pass is one read-only SELECT, so PostgreSQL can run it with parallel
# workers (it never parallelises any part of a statement that writes). It groups the priced
# rows by merchant and, for a discrepancy only, by transaction: a merchant's matching rows
# collapse into one group, each discrepancy is a group of its own. Only those groups (the
# merchants plus the discrepancies, a few per cent of the rows) are staged and written.
# Per row it only counts and sums the charged fee and GST: on a matching row the expected
# fee and GST equal the charged ones, so the expected totals are the matching group's
# charged sums plus each priced discrepancy's expected values (added up from the stage),
# and a discrepancy line's own values are aggregated for discrepancy rows only (FILTER).
_STAGE_COLUMNS = (
    ("client_id", "int"), ("client_code", "text"), ("txn_id", "text"), ("trans_date", "timestamp"), ("n", "bigint"),
    ("charged_fee", "numeric"), ("charged_gst", "numeric"), ("payment_mode", "text"), ("amount", "numeric"),
    ("priced", "boolean"), ("fee", "numeric"), ("gst", "numeric"), ("mdr_config_id", "bigint"),
)  # fmt: skip
_STAGE = "fee_reconciliation_stage"


def _grouped_sql(ctes: str, priced: str) -> str:
    # `c` is fenced (pricing_sql.FENCE): the mismatch test runs once per row, and the
    # planner sees its discrepancy key as an opaque column (default distinct estimate), not
    # as txn_id (one group per row). So it aggregates in the workers (Partial HashAggregate
    # below the Gather) instead of sending every priced row to the leader. client_code is a
    # grouping key (hashing it is cheaper than a max() over every row); the stage takes the
    # merchant's max() over its few groups.
    mismatch = "(NOT p.priced OR p.charged_fee <> p.fee OR p.charged_gst <> p.gst)"
    line = "FILTER (WHERE c.disc_txn_id IS NOT NULL)"
    return f"""{ctes}
    SELECT c.client_id::int, c.client_code::text, c.disc_txn_id::text, c.disc_trans_date::timestamp,
           count(*)::bigint, sum(c.charged_fee)::numeric, sum(c.charged_gst)::numeric,
           (min(c.payment_mode) {line})::text, (min(c.amount) {line})::numeric, bool_and(c.priced) {line},
           (min(c.fee) {line})::numeric, (min(c.gst) {line})::numeric, (min(c.mdr_config_id) {line})::bigint
    FROM (
        SELECT p.client_id, p.client_code, p.charged_fee, p.charged_gst, p.fee, p.gst, p.priced,
               CASE WHEN {mismatch} THEN p.txn_id END AS disc_txn_id,
               CASE WHEN {mismatch} THEN p.trans_date END AS disc_trans_date,
               p.payment_mode, p.amount, p.mdr_config_id, {FENCE}9
        FROM ({priced}) p
    ) c
    GROUP BY 1, 2, 3, 4"""


@transaction.atomic
def fee_reconciliation_run(
    *, period_start: dt.date, period_end: dt.date, client_ids: list[int] | None = None, requested_by: str
) -> list[FeeReconciliation]:
    """Reconcile [period_start, period_end) (India calendar dates) for the given merchants,
    or every merchant with fee-bearing transactions; one fee_reconciliation row per merchant.
    Publishes fee.reconciliation_completed per merchant in the same transaction.

    Two steps in this transaction: (1) the read-only, parallel-capable grouped pricing SELECT
    is copied out (binary, unparsed) and into a temporary stage table; (2) the totals and the
    discrepancy lines are written from the stage (small)."""
    if not isinstance(period_start, dt.date) or isinstance(period_start, dt.datetime) or period_end <= period_start:
        raise FeeValidationError({"period_end": "must be a date after period_start"})
    if client_ids is not None and not client_ids:
        raise FeeValidationError({"client_ids": "empty list; pass None for every merchant"})
    run_id = uuid.uuid4()
    with_platform, with_tiers = pricing_features()
    bounds = naive_bounds(period_start, period_end)
    rec, disc = FeeReconciliation._meta.db_table, FeeDiscrepancy._meta.db_table
    with connection.cursor() as cursor:
        use_batch_memory(cursor)
        terms = pricing_terms(cursor, proposal=None, **bounds)
        ctes, priced, params = priced_ctes(txn_sql=transactions_sql(client_ids=client_ids is not None),
                                           with_platform=with_platform, with_tiers=with_tiers, terms=terms)  # fmt: skip
        params.update(bounds)
        params["client_ids"] = client_ids
        query = cursor.mogrify(_grouped_sql(ctes, priced), params)
        raw = connection.connection
        with raw.cursor() as rc:
            # The whole result is read before the next statement (one statement at a time per
            # connection); a second connection could not see this transaction's writes.
            with rc.copy(f"COPY ({query}) TO STDOUT (FORMAT binary)") as source:
                staged = b"".join(source)  # bytes, unparsed: merchants + discrepancies (~150 bytes each)
            columns = ", ".join(f"{name} {kind}" for name, kind in _STAGE_COLUMNS)
            rc.execute(f"CREATE TEMPORARY TABLE {_STAGE} ({columns}) ON COMMIT DROP")
            with rc.copy(f"COPY {_STAGE} FROM STDIN (FORMAT binary)") as target:
                target.write(staged)
        cursor.execute(
            f"""WITH totals AS (
                SELECT s.client_id, max(s.client_code) AS client_code, sum(s.n) AS n,
                       sum(s.charged_fee) AS charged_fee, sum(s.charged_gst) AS charged_gst,
                       sum(CASE WHEN s.txn_id IS NULL THEN s.charged_fee WHEN s.priced THEN s.fee END) AS expected_fee,
                       sum(CASE WHEN s.txn_id IS NULL THEN s.charged_gst WHEN s.priced THEN s.gst END) AS expected_gst,
                       count(s.txn_id) AS discrepancies, count(*) FILTER (WHERE NOT s.priced) AS unconfigured
                FROM {_STAGE} s GROUP BY s.client_id
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
            FROM {_STAGE} p JOIN recs r ON r.client_id = p.client_id
            WHERE p.txn_id IS NOT NULL""",
            {"run_id": run_id, "p_start": period_start, "p_end": period_end, "requested_by": requested_by,
             "now": timezone.now(), "tz": params["tz"]},
        )  # fmt: skip
        cursor.execute(f"DROP TABLE {_STAGE}")  # ON COMMIT DROP covers errors; a caller's outer transaction may run us twice
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
