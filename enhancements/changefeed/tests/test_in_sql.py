"""The SQL path (in_sql) against the Python path (read model + derive), on the same core.

Clean rows are translated, turned into facts and events inside PostgreSQL; the Python
translation stays the definition. A seeded core plus hand-made awkward rows goes through
the feed twice, once each way, and every event, state and feed error must be identical.
"""

from __future__ import annotations

import datetime as dt
import math

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from core_legacy import sql_translation
from core_legacy.fields import to_core_naive
from core_legacy.seeding.generator import seed_core
from core_legacy.sql import core_table
from enhancements.changefeed.models import FeedError, FeedState, RefundRequestSeen, TxnState
from enhancements.changefeed.services import feed_backfill
from enhancements.events.models import OutboxEvent

from .conftest import ist

pytestmark = pytest.mark.django_db(databases=["default", "core"])


@pytest.fixture(autouse=True)
def _sequential_backfill(settings):
    # Parallel backfill ranges use their own connections, which cannot see this test's transaction.
    settings.CHANGEFEED_BACKFILL_WORKERS = 1


# Rows whose translation has a trap; `sql` says whether the SQL path may take them.
AWKWARD = [
    (True, dict(status=" Successful ", sabpaisa_resp_code=" 0")),
    (True, dict(status="failed", sabpaisa_resp_code="300", paid_amount=0.0)),
    (True, dict(status="FAILED", sabpaisa_resp_code="0000")),  # the code wins, conflict flagged
    (True, dict(status="Challan-Generated", sabpaisa_resp_code=None, challan_no=" CH1 ")),
    (True, dict(status="pending", sabpaisa_resp_code="NA", client_code=" NA ", bank_txn_id="null", pg_name="-")),
    (True, dict(paid_amount=1234.5599999999999, act_amount=0.1 + 0.2, convcharges=12.3, gst=0.07 * 3)),
    (True, dict(trans_complete_date=ist(days_ago=4).replace(microsecond=123456))),
    (True, dict(status="SETTLED", sabpaisa_resp_code="0800", is_settled=None, settlement_utr=" UTR9 ",
                settlement_date=ist(days_ago=3).replace(microsecond=500000), settlement_amount=990.0,
                settlement_status="settled")),  # fmt: skip
    (True, dict(status="REFUNDED", sabpaisa_resp_code="0700", refund_amount=250.0, refunded_amount=None,
                refund_initiated_on=ist(days_ago=3), refunded_date=ist(days_ago=2), refund_status_code="0700")),  # fmt: skip
    (True, dict(is_charge_back=None, charge_back_date=ist(days_ago=2), charge_back_amount=1000.0,
                charge_back_status=" resolved ")),  # fmt: skip
    (True, dict(is_charge_back=True, charge_back_status="won by merchant")),
    (True, dict(txn_id=" 88PADDED ")),
    (False, dict(act_amount=-0.0)),  # repr keeps the sign: '-0.00'
    (False, dict(act_amount=1.005)),  # a half-paisa tie in decimal, not in binary
    (False, dict(paid_amount=1e12)),
    (False, dict(gst=math.nan)),  # Python rejects it: a feed error
    (False, dict(client_code="ÄBC", pg_name="café")),
    (False, dict(client_txn_id="\u00a0CT\u00a0")),  # Python strips no-break spaces, btrim does not
    (False, dict(client_code="\tTC1\t")),
    (True, dict(refund_date=" 2026-11-01 10:00:00", refunded_date=None, status="REFUNDED", sabpaisa_resp_code="0700")),
    (True, dict(refund_date="29-02-2024", refunded_date=None, status="REFUNDED", sabpaisa_resp_code="0700")),
    (True, dict(refund_date="NA")),
    (False, dict(refund_date="30-02-2026")),  # Python rejects it
    (False, dict(refund_date="2026-1-5 1:02:03", status="REFUNDED", sabpaisa_resp_code="0700")),  # strptime only
    (False, dict(refund_date="2026-11-01 10:00:00.5", status="REFUNDED", sabpaisa_resp_code="0700")),
    (False, dict(refund_date="01-11-1900", status="REFUNDED", sabpaisa_resp_code="0700")),  # before +05:30
    (False, dict(refund_date="someday")),  # Python rejects it
    (False, dict(status="WEIRD", sabpaisa_resp_code="9999")),  # Python rejects it
    (False, dict(charge_back_date=dt.datetime(1940, 5, 1), is_charge_back=True)),  # before +05:30
]


def _snapshot(started: dt.datetime) -> dict:
    events = {
        e.event_key: (e.type, e.client_id, e.client_code, e.txn_id, e.payload,
                      "observed" if e.occurred_at >= started else e.occurred_at)  # fmt: skip
        for e in OutboxEvent.objects.all()
    }
    states = {s.txn_id: (s.trans_date, s.fingerprint, s.events_mask) for s in TxnState.objects.all()}
    errors = {(e.source_table, e.row_key, e.column_name, e.value, e.message) for e in FeedError.objects.all()}
    return {"events": events, "states": states, "errors": errors}


def _run_feed(since: dt.datetime) -> dict:
    started = timezone.now()
    feed_backfill(since=since)
    snapshot = _snapshot(started)
    for model in (OutboxEvent, TxnState, FeedError, FeedState, RefundRequestSeen):
        model.objects.all().delete()
    return snapshot


def test_sql_path_gives_the_python_paths_events_states_and_errors(core_rows, settings):
    today = to_core_naive(timezone.now()).date()
    seed_core(core_rows.conn, transactions=2500, clients=15, days=20, seed=77, end_date=today,
              schema=django_settings.CORE_DB_SCHEMA)  # fmt: skip
    awkward = [(sql, core_rows.transaction(trans_date=ist(days_ago=5), **row)) for sql, row in AWKWARD]
    since = ist(days_ago=25).replace(hour=0, minute=0, second=0)

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT btrim(td.txn_id), {sql_translation.transaction_eligible('td')} "
            f"FROM {core_table('transaction_detail')} td"
        )
        eligible = dict(cursor.fetchall())
    wrong = [overrides for (sql, row), (_, overrides) in zip(awkward, AWKWARD) if eligible[row["txn_id"].strip()] is not sql]
    assert not wrong
    assert sum(eligible.values()) > 0.9 * len(eligible)  # nearly every seeded row takes the SQL path

    settings.CHANGEFEED_SQL_TRANSLATION = True
    in_sql = _run_feed(since)
    settings.CHANGEFEED_SQL_TRANSLATION = False
    in_python = _run_feed(since)

    assert len(in_sql["events"]) > 2500 and len(in_sql["errors"]) == 4
    for key in ("states", "errors"):
        assert in_sql[key] == in_python[key]
    differing = {k: (v, in_python["events"].get(k)) for k, v in in_sql["events"].items() if in_python["events"].get(k) != v}
    assert not differing and in_sql["events"].keys() == in_python["events"].keys()
