"""The feed's work for clean rows, done inside PostgreSQL: one statement per range.

A backfill of a million rows spent most of its time in Python: translating each row,
deriving its facts, encoding its payloads, binding them back to the server. For rows
that core_legacy.sql_translation can translate exactly (nearly all of them), the same
steps run here as one statement: find changed rows (fingerprint anti-join), translate
them, derive their lifecycle facts, insert their new events into the outbox and upsert
their TxnState. The statement returns the rows it could not take (raw, as before) for
the Python path, which also records feed errors. derive.py stays the definition of
facts and payloads; tests/test_in_sql.py runs the whole seeded core through both paths
and requires identical events and states.
"""

from __future__ import annotations

from django.db import connection

from core_legacy import sql_translation as tr
from core_legacy.read_models import TRANSACTION_COLUMNS

from . import derive
from .models import FeedError, TxnState
from enhancements.events.outbox import insert_from_sql

SUMMARY_COLUMNS = 4  # rows taken in SQL, their latest change time, new events, their types


def _q(column: str) -> str:
    return connection.ops.quote_name(column)


def _translated(offset: str) -> str:
    """Clean values of an eligible changed row (alias c), named as the read model's fields."""

    def col(name: str) -> str:
        return f"c.{_q(name)}"

    clean = {name: tr.clean_text(col(name)) for name in (
        "client_code", "client_txn_id", "payment_mode", "pg_name", "bank_txn_id", "challan_no", "settlement_utr",
        "settlement_status", "refund_status_code", "charge_back_status")}  # fmt: skip
    money = {name: tr.money(col(name)) for name in (
        "act_amount", "paid_amount", "convcharges", "ep_charges", "gst", "settlement_amount", "refunded_amount",
        "refund_amount", "charge_back_amount")}  # fmt: skip
    times = {name: col(name) for name in ("trans_date", "trans_complete_date", "settlement_date",
                                          "refund_initiated_on", "refunded_date", "charge_back_date")}  # fmt: skip
    # refund_date (text) only ever matters as the completion date when refunded_date is NULL.
    times["refunded_on"] = f"coalesce({col('refunded_date')}, {tr.text_date_parsed(col('refund_date'))})"
    by_code = tr.status_by_code(tr.clean_text(col("sabpaisa_resp_code")))
    by_word = tr.status_by_word(tr.clean_text(col("status")))
    parts = [
        f"btrim({col('txn_id')}, ' ') AS txn_id",
        f"{col('client_id')} AS client_id",
        f"coalesce({by_code}, {by_word}) AS status",
        f"coalesce({by_code} <> {by_word}, false) AS status_conflict",
        f"{tr.clean_text(col('sabpaisa_resp_code'))} AS status_code",
        f"{col('payment_mode_id')} AS payment_mode_id",
        f"coalesce({col('is_settled')}, false) AS is_settled",
        f"coalesce({col('is_charge_back')}, false) AS is_charge_back",
        *(f"{expr} AS {_q(name)}" for name, expr in clean.items()),
        *(f"{expr}::text AS {_q(name)}" for name, expr in money.items()),
        *(f"{tr.aware(expr)} AS {_q(name)}" for name, expr in times.items()),
        *(f"{tr.isoformat(expr, offset)} AS {_q(name + '_iso')}" for name, expr in times.items()),
        "c.fp", "c.changed_at", "coalesce(c.events_mask, 0) AS old_mask", "c.known",
    ]
    return ",\n".join(parts)


def _facts() -> str:
    """derive.transaction_facts over a translated row (alias t)."""
    bits, status_event = derive.BITS, derive._STATUS_EVENT
    succeeded = ", ".join(tr.literal(s.value) for s in derive._SUCCEEDED)
    by_status = " ".join(f"WHEN {tr.literal(s.value)} THEN {bits[e]}" for s, e in status_event.items())
    closed = ", ".join(tr.literal(w) for w in sorted(derive.CHARGEBACK_CLOSED_WORDS))
    raised = "(t.is_charge_back OR t.charge_back_date IS NOT NULL)"
    return f"""(
        CASE WHEN t.status IN ({succeeded}) THEN {bits[derive.PAYMENT_SUCCEEDED]}
             ELSE CASE t.status {by_status} ELSE 0 END END
        | CASE WHEN t.settlement_utr IS NOT NULL AND (t.is_settled OR t.status = 'SETTLED')
               THEN {bits[derive.SETTLEMENT_SETTLED]} ELSE 0 END
        | CASE WHEN t.refund_initiated_on IS NOT NULL OR t.status IN ('REFUND_INITIATED', 'REFUNDED')
               THEN {bits[derive.REFUND_CORE_INITIATED]} ELSE 0 END
        | CASE WHEN t.refunded_date IS NOT NULL OR t.status = 'REFUNDED'
               THEN {bits[derive.REFUND_CORE_COMPLETED]} ELSE 0 END
        | CASE WHEN {raised} THEN {bits[derive.CHARGEBACK_RAISED]} ELSE 0 END
        | CASE WHEN {raised} AND upper(replace(t.charge_back_status, ' ', '_')) IN ({closed})
               THEN {bits[derive.CHARGEBACK_RESOLVED]} ELSE 0 END
    )"""


# derive._base_payload over a translated row (alias t), as jsonb_build_object arguments.
_BASE_PAYLOAD = """
        'txn_id', t.txn_id, 'client_id', t.client_id, 'client_code', t.client_code,
        'client_txn_id', t.client_txn_id, 'trans_date', t.trans_date_iso, 'status', t.status,
        'status_code', t.status_code, 'status_conflict', t.status_conflict, 'amount', t.act_amount,
        'paid_amount', t.paid_amount, 'payment_mode', t.payment_mode, 'payment_mode_id', t.payment_mode_id,
        'pg_name', t.pg_name, 'bank_txn_id', t.bank_txn_id, 'trans_complete_date', t.trans_complete_date_iso"""


def _events_select() -> str:
    """derive._specific for each new fact of a row (alias t): one event row per set bit of new_mask.

    A join with the fact bits and one CASE per column (not a UNION per fact, and not
    base || extra: both cost more per row than building each payload once).
    """
    completed = "coalesce(t.trans_complete_date, t.trans_date)"
    observed = "%(now)s::timestamptz"
    chargeback = ("'charge_back_amount', t.charge_back_amount, 'charge_back_date', t.charge_back_date_iso, "
                  "'charge_back_status', t.charge_back_status")  # fmt: skip
    specific = {
        derive.PAYMENT_INITIATED: ("t.trans_date", ""),
        derive.PAYMENT_SUCCEEDED: (completed, "'convcharges', t.convcharges, 'ep_charges', t.ep_charges, 'gst', t.gst"),
        derive.PAYMENT_FAILED: (completed, ""),
        derive.PAYMENT_ABORTED: (completed, ""),
        derive.PAYMENT_CHALLAN_GENERATED: (completed, "'challan_no', t.challan_no"),
        derive.SETTLEMENT_SETTLED: (
            f"coalesce(t.settlement_date, {observed})",
            "'settlement_amount', t.settlement_amount, 'settlement_utr', t.settlement_utr, "
            "'settlement_date', t.settlement_date_iso, 'settlement_status', t.settlement_status",
        ),
        derive.REFUND_CORE_INITIATED: (
            f"coalesce(t.refund_initiated_on, {observed})",
            "'refund_amount', t.refund_amount, 'refund_initiated_on', t.refund_initiated_on_iso, "
            "'refund_status_code', t.refund_status_code",
        ),
        derive.REFUND_CORE_COMPLETED: (
            f"coalesce(t.refunded_on, {observed})",
            "'refunded_amount', coalesce(t.refunded_amount, t.refund_amount), "
            "'refunded_date', t.refunded_on_iso, 'refund_status_code', t.refund_status_code",
        ),
        derive.CHARGEBACK_RAISED: (f"coalesce(t.charge_back_date, {observed})", chargeback),
        derive.CHARGEBACK_RESOLVED: (observed, chargeback),
    }
    assert set(specific) == set(derive.BITS), "every fact needs its SQL event here"
    bits = ", ".join(f"({derive.BITS[e]}, {tr.literal(e)})" for e in specific)
    occurred = " ".join(f"WHEN {derive.BITS[e]} THEN {o}" for e, (o, _) in specific.items())
    payload = " ".join(
        f"WHEN {derive.BITS[e]} THEN jsonb_build_object({_BASE_PAYLOAD}{', ' + x if x else ''})"
        for e, (_, x) in specific.items()
    )
    return f"""
        SELECT b.type || ':' || t.txn_id, b.type, t.client_id, t.client_code, t.txn_id,
               CASE b.bit {payload} END, CASE b.bit {occurred} END, %(now)s::timestamptz
        FROM clean t JOIN (VALUES {bits}) AS b(bit, type) ON t.new_mask & b.bit <> 0
        WHERE t.new_mask <> 0
    """


def range_statement(changed_rows_sql: str, *, open_errors: bool, enabled: bool = True) -> str:
    """The statement for one range. changed_rows_sql: the poller's SELECT of changed raw rows.

    Parameters: those of changed_rows_sql plus %(now)s (aware) and %(baseline)s. Returns one
    summary row (SUMMARY_COLUMNS) left-joined to the raw changed rows SQL did not take.
    enabled=False takes no row (everything goes to the Python path; CHANGEFEED_SQL_TRANSLATION).
    """
    offset = tr.fixed_offset_text() or "+00:00"  # unused when there is no fixed offset (nothing eligible)
    events = insert_from_sql(_events_select())
    resolve = ""
    if open_errors:
        resolve = f""", resolved AS (
            UPDATE {FeedError._meta.db_table} SET resolved_at = %(now)s
            WHERE source_table = 'transaction_detail' AND resolved_at IS NULL
              AND row_key IN (SELECT txn_id FROM clean WHERE known)
        )"""
    raw_columns = ", ".join(_q(c) for c in TRANSACTION_COLUMNS)
    return f"""
        WITH changed AS MATERIALIZED (
            SELECT c.*, {tr.transaction_eligible("c") if enabled else "false"} AS eligible
            FROM ({changed_rows_sql}) c
        ), translated AS MATERIALIZED (
            SELECT {_translated(offset)} FROM changed c WHERE c.eligible
        ), clean AS MATERIALIZED (
            SELECT t.*, f.facts,
                   CASE WHEN %(baseline)s THEN 0 ELSE f.facts & ~t.old_mask END AS new_mask
            FROM translated t CROSS JOIN LATERAL (SELECT {_facts()} AS facts) f
        ), new_events AS (
            {events}
        ), states AS (
            INSERT INTO {TxnState._meta.db_table} AS s (txn_id, trans_date, fingerprint, events_mask, updated_at)
            SELECT t.txn_id, t.trans_date, t.fp, t.old_mask | t.facts, %(now)s FROM clean t
            ON CONFLICT (txn_id) DO UPDATE SET
                trans_date = EXCLUDED.trans_date, fingerprint = EXCLUDED.fingerprint,
                events_mask = s.events_mask | EXCLUDED.events_mask, updated_at = EXCLUDED.updated_at
        ){resolve}
        SELECT summary.*, rest.*
        FROM (
            SELECT (SELECT count(*) FROM clean) AS taken,
                   (SELECT max(changed_at) FROM clean) AS watermark,
                   (SELECT count(*) FROM new_events) AS events,
                   (SELECT array_agg(DISTINCT type) FROM new_events) AS event_types
        ) summary
        LEFT JOIN (
            SELECT {raw_columns}, fp, changed_at, events_mask, known FROM changed WHERE NOT eligible
        ) rest ON true
    """
