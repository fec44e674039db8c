"""Bad core values, concurrent pollers, a dropped connection, and the core left untouched."""

from __future__ import annotations

import threading

import pytest
from django.db import OperationalError, connection, connections

from enhancements.changefeed.models import FeedError, FeedState, TxnState
from enhancements.changefeed.services import feed_poll

from .conftest import ist

CORE_TABLES = ("transaction_detail", "refund_request_from_client", "settlement_data_t")


def _core_checksum(core_rows) -> dict[str, str]:
    return {
        table: core_rows.execute(f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t").fetchone()[0]
        for table in CORE_TABLES
    }


@pytest.mark.django_db(databases=["default", "core"])
def test_bad_row_is_reported_skipped_and_picked_up_once_fixed(core_rows, feed_events):
    good = core_rows.transaction(trans_date=ist(days_ago=1))
    bad = core_rows.transaction(trans_date=ist(days_ago=1), status="WEIRD", sabpaisa_resp_code="9999")
    bad_text = core_rows.transaction(trans_date=ist(days_ago=2), refund_date="someday")
    bad_request = core_rows.refund_request(amount="twelve rupees")
    result = feed_poll()
    assert [e.txn_id for e in feed_events()] == [good["txn_id"]]
    assert result.errors == 3
    errors = {(e.source_table, e.row_key): e for e in FeedError.objects.all()}
    status_error = errors[("transaction_detail", bad["txn_id"])]
    assert status_error.column_name == "sabpaisa_resp_code" and status_error.value == "'9999'"
    assert "neither status nor sabpaisa_resp_code is known" in status_error.message
    assert errors[("transaction_detail", bad_text["txn_id"])].column_name == "refund_date"
    request_error = errors[("refund_request_from_client", str(bad_request["refund_id"]))]
    assert request_error.column_name == "amount" and request_error.value == "'twelve rupees'"

    # Polling again records no new errors for unchanged rows, and emits nothing.
    feed_poll()
    assert FeedError.objects.get(row_key=bad["txn_id"]).occurrences == 1
    assert len(feed_events()) == 1

    # The core corrects the rows: the events follow and the errors are closed.
    core_rows.execute("UPDATE transaction_detail SET sabpaisa_resp_code='0300', status='FAILED' WHERE txn_id=%s",
                      [bad["txn_id"]])  # fmt: skip
    core_rows.execute("UPDATE refund_request_from_client SET amount='12.00' WHERE refund_id=%s", [bad_request["refund_id"]])
    feed_poll()
    assert sorted(e.type for e in feed_events()) == ["payment.failed", "payment.succeeded", "refund_request.received"]
    assert FeedError.objects.filter(resolved_at__isnull=True).count() == 1  # bad_text is still bad


@pytest.mark.django_db(databases=["default", "core"])
def test_core_tables_are_unchanged_by_a_poll(core_rows):
    for days in (1, 5, 25):
        core_rows.transaction(trans_date=ist(days_ago=days), is_settled=True, settlement_utr="U1",
                              settlement_date=ist(days_ago=days - 0.5), settlement_amount=990.0)  # fmt: skip
    core_rows.refund_request()
    before = _core_checksum(core_rows)
    feed_poll()
    feed_poll()
    assert _core_checksum(core_rows) == before
    assert TxnState.objects.count() == 3


@pytest.mark.django_db(transaction=True, databases=["default", "core"])
def test_concurrent_pollers_emit_each_event_once(core_rows, feed_events, settings):
    settings.CHANGEFEED_POLL_RANGE_HOURS = 24  # many small ranges: the pollers interleave
    rows = [core_rows.transaction(trans_date=ist(days_ago=d % 25, hours=d)) for d in range(60)]
    core_rows.refund_request()
    failures = []

    def run():
        try:
            feed_poll()
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    events = feed_events()
    assert len(events) == 61 and len({e.event_key for e in events}) == 61
    assert {e.txn_id for e in events if e.type == "payment.succeeded"} == {r["txn_id"] for r in rows}


@pytest.mark.django_db(transaction=True, databases=["default", "core"])
def test_resumes_after_connection_drop_without_duplicates(core_rows, feed_events, settings):
    settings.CHANGEFEED_POLL_RANGE_HOURS = 24
    rows = [core_rows.transaction(trans_date=ist(days_ago=d)) for d in (28, 20, 10, 2)]
    ranges_done = []

    def kill_after_first_range(report):
        ranges_done.append(report)
        if len(ranges_done) == 3:  # first three days of the window (one row, 28 days ago) committed
            pid = connection.connection.info.backend_pid
            core_rows.execute("SELECT pg_terminate_backend(%s)", [pid])

    with pytest.raises(OperationalError):
        feed_poll(on_range=kill_after_first_range)
    connections["default"].close()
    committed = feed_events()
    assert [e.txn_id for e in committed] == [rows[0]["txn_id"]]  # what committed before the drop stays
    state = FeedState.objects.get(source="transaction_detail")
    assert state.last_poll_error.startswith("OperationalError")
    assert state.watermark is not None

    feed_poll()
    events = feed_events()
    assert sorted(e.txn_id for e in events) == sorted(r["txn_id"] for r in rows)
    assert len({e.event_key for e in events}) == len(events) == 4
    assert FeedState.objects.get(source="transaction_detail").last_poll_error == ""
