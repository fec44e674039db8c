"""Row sources of each report: SQL streamed through a server-side cursor, and the field mapping.

Each source yields tuples in the order of its FIELDS; the report-level values go in `meta`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from django.db import connection
from django.utils import timezone

from core_legacy.sql import core_table
from enhancements.regulatory import reporting, tat
from integrations.regulatory_reports.writers import Field

from ..models import Alert, AlertStatus, Resolution
from ..rules.sqlbits import aware_sql, clean_text_sql, money_sql, received_sql, status_sql
from ..selectors import open_str_clocks, str_days_left

# How the seeded/real core names cash and cross-border payment modes (payment_mode.paymode_name).
CASH_PAYMENT_MODES = ["Challan"]
CROSS_BORDER_PAYMENT_MODES = ["International Card"]
ITERSIZE = 5000


def stream(sql: str, params: dict) -> Iterator[tuple]:
    """Rows of `sql` from a server-side cursor (the caller holds a transaction open).

    Timestamps come out in India time (the filing's local time), with their offset. Only the
    timestamp columns (found from the cursor's description) are converted: a per-value type test
    over every column was a large share of a month report's Python time.
    """
    tz = timezone.get_default_timezone()
    connection.ensure_connection()
    with connection.cursor() as plain:
        # A cursor's plan is tuned for its first 10% of rows by default, which picks index walks
        # over the whole month; every report reads all its rows, so plan for all of them.
        plain.execute("SELECT set_config('cursor_tuple_fraction', '1.0', true)")
    with connection.connection.cursor(name=f"compliance_report_{id(sql)}") as cursor:
        cursor.itersize = ITERSIZE
        cursor.execute(sql, params)
        stamps = [i for i, col in enumerate(cursor.description or ()) if col.type_code in _TIMESTAMP_OIDS]
        if not stamps:
            yield from cursor
            return
        for row in cursor:
            row = list(row)
            for i in stamps:
                value = row[i]
                if isinstance(value, dt.datetime) and value.tzinfo:
                    row[i] = value.astimezone(tz)
            yield tuple(row)


_TIMESTAMP_OIDS = (1114, 1184)  # timestamp, timestamptz


def _stage(table: str, sql: str, params: dict) -> None:
    """Select a month report's rows into a temp table dropped at commit.

    A server-side cursor never runs in parallel, so a month report streamed straight from the
    core read the month with one process; this statement runs in parallel workers like any other,
    and the cursor then only sorts and streams the few selected rows.
    """
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(f"CREATE TEMP TABLE {table} ON COMMIT DROP AS {sql}", params)


def _payer_name() -> str:
    first, last = clean_text_sql("t.payee_first_name", lower=False), clean_text_sql("t.payee_lst_name", lower=False)
    return f"nullif(concat_ws(' ', {first}, {last}), '')"


CTR_FIELDS = [Field(n, x) for n, x in [
    ("report_month", "ReportMonth"), ("client_id", "ClientId"), ("client_code", "ClientCode"),
    ("client_name", "ClientName"), ("txn_id", "TransactionId"), ("client_txn_id", "ClientTransactionId"),
    ("trans_date", "TransactionDate"), ("amount", "Amount"), ("payment_mode", "PaymentMode"),
    ("challan_no", "ChallanNumber"), ("payer_name", "PayerName"), ("month_cash_total", "MonthCashTotal"),
    ("month_cash_count", "MonthCashCount"),
]]  # fmt: skip


def ctr_rows(month_start: dt.date, month_end: dt.date) -> Iterator[tuple]:
    """Every cash payment of a merchant whose cash receipts in the month exceed Rs 10 lakh
    (a single payment above it included): PML Rules 3(1)(B), connected transactions per merchant.

    Money leaves PostgreSQL as text (numeric's text is the plain two-place decimal the files
    carry), which saves building a Decimal per value only to format it again."""
    _stage("compliance_report_ctr_cash", f"""
        SELECT t.client_id, t.client_code, t.client_name, t.txn_id, t.client_txn_id, t.trans_date,
               {money_sql('t.paid_amount')} AS amount, t.payment_mode, t.challan_no, {_payer_name()} AS payer_name
        FROM {core_table('transaction_detail')} t
        WHERE t.trans_date >= %(start)s AND t.trans_date < %(end)s AND t.payment_mode = ANY(%(modes)s)
          AND t.paid_amount > 0 AND {received_sql('t')}""",
        {"start": month_start, "end": month_end, "modes": CASH_PAYMENT_MODES})
    return stream(f"""
        WITH totals AS (
            SELECT client_id, sum(amount) AS total, count(*) AS n FROM compliance_report_ctr_cash
            GROUP BY client_id HAVING sum(amount) > %(threshold)s
        )
        SELECT %(month)s, c.client_id, c.client_code, c.client_name, c.txn_id, c.client_txn_id, {aware_sql('c.trans_date')},
               c.amount::text, c.payment_mode, c.challan_no, c.payer_name, tt.total::text, tt.n
        FROM compliance_report_ctr_cash c JOIN totals tt ON tt.client_id = c.client_id
        ORDER BY c.client_code, c.trans_date, c.txn_id""",
        {"threshold": reporting.CTR_THRESHOLD, "month": f"{month_start:%Y-%m}"})  # fmt: skip


CBWTR_FIELDS = [Field(n, x) for n, x in [
    ("report_month", "ReportMonth"), ("client_id", "ClientId"), ("client_code", "ClientCode"),
    ("client_name", "ClientName"), ("txn_id", "TransactionId"), ("client_txn_id", "ClientTransactionId"),
    ("trans_date", "TransactionDate"), ("amount", "Amount"), ("payment_mode", "PaymentMode"),
    ("card_brand", "CardBrand"), ("bank_txn_id", "BankTransactionId"), ("payer_name", "PayerName"),
]]  # fmt: skip


def cbwtr_rows(month_start: dt.date, month_end: dt.date) -> Iterator[tuple]:
    """Cross-border payments above Rs 5 lakh received in the month: PML Rules 3(1)(F)."""
    _stage("compliance_report_cbwtr", f"""
        SELECT t.client_id, t.client_code, t.client_name, t.txn_id, t.client_txn_id, t.trans_date,
               {money_sql('t.paid_amount')} AS amount, t.payment_mode, t.card_brand, t.bank_txn_id, {_payer_name()} AS payer_name
        FROM {core_table('transaction_detail')} t
        WHERE t.trans_date >= %(start)s AND t.trans_date < %(end)s AND t.payment_mode = ANY(%(modes)s)
          AND t.paid_amount > %(threshold)s::float8 - 0.01 AND {money_sql('t.paid_amount')} > %(threshold)s AND {received_sql('t')}""",
        {"start": month_start, "end": month_end, "modes": CROSS_BORDER_PAYMENT_MODES, "threshold": reporting.CBWTR_THRESHOLD})
    return stream(f"""
        SELECT %(month)s, t.client_id, t.client_code, t.client_name, t.txn_id, t.client_txn_id, {aware_sql('t.trans_date')},
               t.amount::text, t.payment_mode, t.card_brand, t.bank_txn_id, t.payer_name
        FROM compliance_report_cbwtr t
        ORDER BY t.client_code, t.trans_date, t.txn_id""", {"month": f"{month_start:%Y-%m}"})  # fmt: skip


STR_FIELDS = [Field(n, x) for n, x in [
    ("case_id", "CaseId"), ("rule_code", "Rule"), ("txn_id", "TransactionId"), ("client_code", "ClientCode"),
    ("trans_date", "TransactionDate"), ("amount", "Amount"), ("payment_mode", "PaymentMode"),
    ("status", "Status"), ("payer_name", "PayerName"),
]]  # fmt: skip


def str_meta(alert: Alert) -> dict:
    return {"CaseId": alert.pk, "Rule": alert.rule_code, "Severity": alert.severity, "Entity": alert.entity_display,
            "ClientCode": alert.client_code, "Threshold": alert.threshold, "Grounds": alert.str_grounds,
            "DecidedAt": timezone.localtime(alert.str_decided_at), "DueOn": alert.str_due_on, "Source": reporting.STR_SOURCE}  # fmt: skip


def str_rows(alert: Alert) -> Iterator[tuple]:
    """The case's linked transactions (its evidence), read back from the core."""
    txn_ids = [str(t) for t in (alert.evidence or {}).get("txn_ids", [])]
    return stream(f"""
        SELECT %(case)s, %(rule)s, t.txn_id, t.client_code, {aware_sql('t.trans_date')}, {money_sql('t.paid_amount')},
               t.payment_mode, {status_sql('t')}, {_payer_name()}
        FROM {core_table('transaction_detail')} t WHERE t.txn_id = ANY(%(ids)s)
        ORDER BY t.trans_date, t.txn_id""", {"case": alert.pk, "rule": alert.rule_code, "ids": txn_ids})


TAT_FIELDS = [Field(n, x) for n, x in [
    ("kind", "Kind"), ("txn_id", "TransactionId"), ("client_code", "ClientCode"), ("payment_mode", "PaymentMode"),
    ("channel", "TatChannel"), ("amount", "Amount"), ("start_date", "StartDate"), ("tat_deadline", "TatDeadline"),
    ("resolved_on", "ResolvedOn"), ("days_late", "DaysLate"), ("compensation_due", "CompensationDue"),
    ("tat_source", "Source"),
]]  # fmt: skip


def tat_rows(month_start: dt.date, month_end: dt.date, as_of: dt.date) -> Iterator[tuple]:
    """Failed payments whose money was taken (paid_amount > 0: a reversal is owed) and refunds
    initiated in the month, past their RBI TAT. Open ones are late as of `as_of`."""
    # Refunds are initiated up to 180 days after the payment: bound trans_date for partition pruning.
    rows = stream(f"""
        SELECT 'REVERSAL', t.txn_id, t.client_code, t.payment_mode, {money_sql('t.paid_amount')},
               t.trans_date::date, t.refunded_date::date
        FROM {core_table('transaction_detail')} t
        WHERE t.trans_date >= %(start)s AND t.trans_date < %(end)s AND t.paid_amount > 0 AND {status_sql('t')} = 'FAILED'
        UNION ALL
        SELECT 'REFUND', t.txn_id, t.client_code, t.payment_mode,
               {money_sql('coalesce(t.refund_amount, t.refunded_amount)')}, t.refund_initiated_on::date, t.refunded_date::date
        FROM {core_table('transaction_detail')} t
        WHERE t.refund_initiated_on >= %(start)s AND t.refund_initiated_on < %(end)s
          AND t.trans_date >= %(start)s::date - 180 AND t.trans_date < %(end)s
        ORDER BY 1, 6, 2""", {"start": month_start, "end": month_end})  # fmt: skip
    for kind, txn_id, client_code, mode, amount, start, resolved in rows:
        channel = tat.channel_for_payment_mode(mode)
        late = tat.days_late(channel, start, resolved or as_of)
        if late > 0:
            yield (kind, txn_id, client_code, mode, channel, amount, start, tat.tat_deadline(channel, start), resolved,
                   late, tat.compensation_due(channel, start, resolved or as_of), tat.TAT_RULES[channel].source)


SUMMARY_FIELDS = [Field(n, x) for n, x in [
    ("section", "Section"), ("rule_code", "Rule"), ("severity", "Severity"), ("raised", "Raised"),
    ("resolved_false_positive", "ResolvedFalsePositive"), ("resolved_action_taken", "ResolvedActionTaken"),
    ("str_filed", "StrFiled"), ("avg_hours_to_close", "AverageHoursToClose"), ("open_now", "OpenNow"),
    ("alert_id", "AlertId"), ("str_due_on", "StrDueOn"), ("working_days_left", "WorkingDaysLeft"),
]]  # fmt: skip


def summary_rows(month_start: dt.date, month_end: dt.date) -> Iterator[tuple]:
    """Alerts by rule and severity raised/closed in the month (India time), then every open STR clock."""
    tz = timezone.get_current_timezone_name()
    with connection.cursor() as cursor:
        cursor.execute(f"""
            SELECT rule_code, severity,
                   count(*) FILTER (WHERE (created_at AT TIME ZONE %(tz)s)::date >= %(start)s AND (created_at AT TIME ZONE %(tz)s)::date < %(end)s),
                   count(*) FILTER (WHERE closed AND resolution = %(fp)s),
                   count(*) FILTER (WHERE closed AND resolution = %(at)s),
                   count(*) FILTER (WHERE closed AND status = %(str)s),
                   round((avg(extract(epoch FROM closed_at - created_at)) FILTER (WHERE closed) / 3600)::numeric, 1),
                   count(*) FILTER (WHERE status IN ('OPEN', 'UNDER_REVIEW', 'ESCALATED'))
            FROM (SELECT a.*, closed_at IS NOT NULL AND (closed_at AT TIME ZONE %(tz)s)::date >= %(start)s
                              AND (closed_at AT TIME ZONE %(tz)s)::date < %(end)s AS closed
                  FROM {Alert._meta.db_table} a) a
            GROUP BY rule_code, severity
            HAVING count(*) FILTER (WHERE (created_at AT TIME ZONE %(tz)s)::date >= %(start)s AND (created_at AT TIME ZONE %(tz)s)::date < %(end)s) > 0
                OR count(*) FILTER (WHERE closed) > 0
                OR count(*) FILTER (WHERE status IN ('OPEN', 'UNDER_REVIEW', 'ESCALATED')) > 0
            ORDER BY rule_code, severity""",
            {"tz": tz, "start": month_start, "end": month_end, "fp": Resolution.FALSE_POSITIVE,
             "at": Resolution.ACTION_TAKEN, "str": AlertStatus.STR_FILED})  # fmt: skip
        by_rule = cursor.fetchall()
    for rule_code, severity, raised, fp, action, filed, avg_hours, open_now in by_rule:
        yield ("alerts", rule_code, severity, raised, fp, action, filed, avg_hours, open_now, None, None, None)
    for alert in open_str_clocks().iterator():
        yield ("str_clock", alert.rule_code, alert.severity, None, None, None, None, None, None, alert.pk,
               alert.str_due_on, str_days_left(alert))
