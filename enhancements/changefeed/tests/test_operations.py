"""Backfill, baseline, old rows, the command, operator status and admin."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.management import CommandError, call_command

from enhancements.changefeed.models import FeedState, TxnState
from enhancements.changefeed.services import feed_backfill, feed_poll

from .conftest import ist

pytestmark = pytest.mark.django_db(databases=["default", "core"])


@pytest.fixture(autouse=True)
def _sequential_backfill(settings):
    # Parallel backfill ranges use their own connections, which cannot see this test's transaction.
    settings.CHANGEFEED_BACKFILL_WORKERS = 1


def test_backfill_reaches_rows_older_than_the_window_and_then_polls_add_nothing(core_rows, feed_events):
    old = core_rows.transaction(trans_date=ist(days_ago=90), status="FAILED", sabpaisa_resp_code="0300")
    recent = core_rows.transaction(trans_date=ist(days_ago=3))
    feed_poll()
    assert [e.txn_id for e in feed_events()] == [recent["txn_id"]]  # the window is 30 days
    result = feed_backfill(since=ist(days_ago=100).replace(hour=0, minute=0, second=0))
    assert result.events == 1
    assert {e.txn_id for e in feed_events(type="payment.failed")} == {old["txn_id"]}
    assert feed_poll().events == 0 and feed_backfill(since=ist(days_ago=100)).events == 0
    assert FeedState.objects.get(source="transaction_detail").backfill_since is None  # finished


def test_interrupted_backfill_resumes_after_the_last_committed_day(core_rows, feed_events):
    rows = [core_rows.transaction(trans_date=ist(days_ago=d)) for d in (60, 50, 40)]
    since = ist(days_ago=61).replace(hour=0, minute=0, second=0)
    seen = []

    def stop_after_day_with_first_row(report):
        seen.append(report)
        if report.rows_changed:
            raise KeyboardInterrupt  # the operator pressed Ctrl-C

    with pytest.raises(KeyboardInterrupt):
        feed_backfill(since=since, on_range=stop_after_day_with_first_row)
    state = FeedState.objects.get(source="transaction_detail")
    assert state.backfill_done_through is not None and len(feed_events()) == 1
    resumed = []
    feed_backfill(since=since, on_range=resumed.append)
    assert resumed[0].lo >= seen[-1].hi - dt.timedelta(seconds=1)  # did not start over
    assert sorted(e.txn_id for e in feed_events()) == sorted(r["txn_id"] for r in rows)


def test_baseline_records_state_without_events_and_later_changes_are_announced(core_rows, feed_events):
    row = core_rows.transaction(trans_date=ist(days_ago=4))
    core_rows.refund_request()
    result = feed_poll(baseline=True)
    assert result.events == 0 and feed_events() == [] and TxnState.objects.count() == 1
    assert feed_poll().events == 0
    core_rows.execute("UPDATE transaction_detail SET is_settled=true, settlement_utr='U9', settlement_date=%s"
                      " WHERE txn_id=%s", [ist(days_ago=3), row["txn_id"]])  # fmt: skip
    feed_poll()
    assert [e.type for e in feed_events()] == ["settlement.settled"]


def test_old_row_outside_window_caught_by_time_column_watermark(core_rows, feed_events):
    old = core_rows.transaction(trans_date=ist(days_ago=200), status="SUCCESS")
    core_rows.transaction(trans_date=ist(days_ago=1))
    feed_backfill(since=ist(days_ago=201))
    assert len(feed_events()) == 2
    # A chargeback lands today on a 200-day-old payment: its charge_back_date passes the watermark.
    core_rows.execute("UPDATE transaction_detail SET is_charge_back=true, charge_back_date=%s,"
                      " charge_back_status='RAISED', charge_back_amount=1000 WHERE txn_id=%s",
                      [ist(minutes=1), old["txn_id"]])  # fmt: skip
    feed_poll()
    (raised,) = feed_events(type="chargeback.raised")
    assert raised.txn_id == old["txn_id"]


def test_command_polls_reports_progress_and_status(core_rows):
    core_rows.transaction(trans_date=ist(days_ago=2))
    out, err = io.StringIO(), io.StringIO()
    call_command("sync_core_events", stdout=out, stderr=err)
    assert "1 changed rows, 1 events published, 0 feed errors" in out.getvalue()
    assert "[sync_core_events] range" in err.getvalue()
    status_out = io.StringIO()
    call_command("sync_core_events", "--status", stdout=status_out)
    status = json.loads(status_out.getvalue())
    txn = status["sources"]["transaction_detail"]
    assert txn["watermark"] is not None and txn["lag_s"] is not None and txn["lag_s"] < 60
    assert txn["last_poll_events"] == 1 and status["events_last_hour"]["payment.succeeded"] == 1
    assert status["events_last_hour"]["payment.failed"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2026-01-01"], "--backfill needs --since"),
        (["--backfill"], "--backfill needs --since"),
        (["--backfill", "--since", "01/02/2026"], "is not a date"),
        (["--backfill", "--since", "2999-01-01"], "is in the future"),
        (["--status", "--baseline"], "--status takes no other option"),
    ],
)
def test_command_rejects_bad_arguments(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("sync_core_events", *args)


def test_admin_shows_status_and_errors(core_rows, admin_client):
    core_rows.transaction(trans_date=ist(days_ago=1))
    core_rows.transaction(trans_date=ist(days_ago=1), refund_date="not a date")
    feed_poll()
    page = admin_client.get("/admin/changefeed/feedstate/")
    assert page.status_code == 200 and b"transaction_detail" in page.content
    state = FeedState.objects.get(source="transaction_detail")
    detail = admin_client.get(f"/admin/changefeed/feedstate/{state.pk}/change/")
    assert b"payment.succeeded</td><td>1" in detail.content
    errors = admin_client.get("/admin/changefeed/feederror/")
    assert errors.status_code == 200 and b"refund_date" in errors.content and b"not a date" in errors.content
    polled = admin_client.post("/admin/changefeed/feedstate/", {"action": "poll_now", "_selected_action": [state.pk]},
                               follow=True)  # fmt: skip
    assert b"0 changed rows, 0 events" in polled.content
