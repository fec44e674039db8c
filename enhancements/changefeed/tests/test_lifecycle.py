"""Each lifecycle change in the core becomes exactly one event of the right type and values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from enhancements.changefeed.services import feed_poll

from .conftest import ist

pytestmark = pytest.mark.django_db(databases=["default", "core"])


def _types(events):
    return sorted(e.type for e in events)


def test_payment_lifecycle_from_initiated_to_chargeback_resolved(core_rows, feed_events):
    t0 = ist(days_ago=2)
    row = core_rows.transaction(trans_date=t0, status="INITIATED", sabpaisa_resp_code="0100",
                                trans_complete_date=None, paid_amount=0.0, act_amount=1234.56)  # fmt: skip
    txn = row["txn_id"]
    feed_poll()
    (initiated,) = feed_events()
    assert initiated.type == "payment.initiated" and initiated.event_key == f"payment.initiated:{txn}"
    assert initiated.txn_id == txn and initiated.client_id == 1 and initiated.client_code == "TC1"
    assert initiated.payload["amount"] == "1234.56" and initiated.payload["status"] == "INITIATED"
    assert initiated.payload["trans_date"] == t0.isoformat() + "+05:30"
    assert initiated.occurred_at == dt.datetime.fromisoformat(t0.isoformat() + "+05:30")

    done = t0 + dt.timedelta(minutes=1)
    core_rows.execute(
        "UPDATE transaction_detail SET status='Success', sabpaisa_resp_code='0000', paid_amount=1234.56,"
        " trans_complete_date=%s, convcharges=12.34, gst=2.22 WHERE txn_id=%s", [done, txn]
    )  # fmt: skip
    feed_poll()
    succeeded = feed_events(type="payment.succeeded")
    assert len(succeeded) == 1 and len(feed_events()) == 2
    assert succeeded[0].payload["paid_amount"] == "1234.56"
    assert succeeded[0].payload["convcharges"] == "12.34" and succeeded[0].payload["gst"] == "2.22"
    assert succeeded[0].payload["status"] == "SUCCESS" and succeeded[0].payload["status_conflict"] is False

    settled_on = t0 + dt.timedelta(days=1)
    core_rows.execute(
        "UPDATE transaction_detail SET status='SETTLED', sabpaisa_resp_code='0800', is_settled=true,"
        " settlement_date=%s, settlement_amount=1219.99, settlement_utr='UTR123', settlement_status='SETTLED'"
        " WHERE txn_id=%s", [settled_on, txn]
    )  # fmt: skip
    feed_poll()
    (settled,) = feed_events(type="settlement.settled")
    assert settled.payload["settlement_utr"] == "UTR123" and settled.payload["settlement_amount"] == "1219.99"
    assert settled.occurred_at == dt.datetime.fromisoformat(settled_on.isoformat() + "+05:30")
    assert _types(feed_events()) == ["payment.initiated", "payment.succeeded", "settlement.settled"]

    refund_on = settled_on + dt.timedelta(hours=3)
    core_rows.execute(
        "UPDATE transaction_detail SET status='REFUND_INITIATED', sabpaisa_resp_code='0600', refund_amount=200.5,"
        " refund_initiated_on=%s, refund_status_code='0600' WHERE txn_id=%s", [refund_on, txn]
    )  # fmt: skip
    feed_poll()
    (refund_init,) = feed_events(type="refund.core_initiated")
    assert refund_init.payload["refund_amount"] == "200.50"

    core_rows.execute(
        "UPDATE transaction_detail SET status='REFUNDED', sabpaisa_resp_code='0700', refunded_amount=200.5,"
        " refunded_date=%s, refund_date='21-11-2026' WHERE txn_id=%s", [refund_on + dt.timedelta(days=1), txn]
    )  # fmt: skip
    feed_poll()
    (refunded,) = feed_events(type="refund.core_completed")
    assert refunded.payload["refunded_amount"] == "200.50"

    core_rows.execute(
        "UPDATE transaction_detail SET is_charge_back=true, charge_back_amount=1234.56, charge_back_date=%s,"
        " charge_back_status='RAISED' WHERE txn_id=%s", [refund_on + dt.timedelta(days=2), txn]
    )  # fmt: skip
    feed_poll()
    (raised,) = feed_events(type="chargeback.raised")
    assert raised.payload["charge_back_status"] == "RAISED" and raised.payload["charge_back_amount"] == "1234.56"
    assert not feed_events(type="chargeback.resolved")

    core_rows.execute("UPDATE transaction_detail SET charge_back_status='Resolved' WHERE txn_id=%s", [txn])
    feed_poll()
    (resolved,) = feed_events(type="chargeback.resolved")
    assert resolved.payload["charge_back_status"] == "Resolved"
    assert _types(feed_events()) == [
        "chargeback.raised", "chargeback.resolved", "payment.initiated", "payment.succeeded",
        "refund.core_completed", "refund.core_initiated", "settlement.settled",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("word", "code", "extra", "expected"),
    [
        ("FAILED", "0300", {}, "payment.failed"),
        ("ABORTED", "0200", {}, "payment.aborted"),
        ("CHALLAN_GENERATED", "0400", {"challan_no": "CH0000042", "payment_mode_id": 7}, "payment.challan_generated"),
    ],
)
def test_terminal_payment_states(core_rows, feed_events, word, code, extra, expected):
    row = core_rows.transaction(trans_date=ist(days_ago=1), status=word, sabpaisa_resp_code=code, **extra)
    feed_poll()
    (event,) = feed_events()
    assert event.type == expected and event.txn_id == row["txn_id"]
    assert event.payload["status"] == word and event.payload["status_code"] == code
    if "challan_no" in extra:
        assert event.payload["challan_no"] == "CH0000042"


def test_new_merchant_refund_request_is_announced_once(core_rows, feed_events):
    row = core_rows.refund_request(amount=" 1,250.50 ", client_code="TC7", client_id="7", sp_txn_id="771234",
                                   message="customer cancelled")  # fmt: skip
    feed_poll()
    feed_poll()
    (event,) = feed_events()
    assert event.type == "refund_request.received"
    assert event.event_key == f"refund_request.received:{row['refund_id']}"
    assert event.client_id == 7 and event.client_code == "TC7" and event.txn_id == "771234"
    assert event.payload["amount"] == "1250.50" and event.payload["state"] == "REQUESTED"
    assert Decimal(event.payload["amount"]) == Decimal("1250.50")


def test_rerun_adds_nothing_and_untracked_changes_emit_nothing(core_rows, feed_events):
    rows = [core_rows.transaction(trans_date=ist(days_ago=d)) for d in (1, 3, 9)]
    first = feed_poll()
    assert first.events == 3 and len(feed_events()) == 3
    again = feed_poll()
    assert again.events == 0 and again.rows_changed == 0
    # A column that drives no lifecycle fact changes: the row is re-read but yields no event.
    core_rows.execute("UPDATE transaction_detail SET pg_name='Other PG' WHERE txn_id=%s", [rows[0]["txn_id"]])
    third = feed_poll()
    assert third.rows_changed == 1 and third.events == 0 and len(feed_events()) == 3


def test_late_update_to_a_20_day_old_row_is_caught(core_rows, feed_events):
    row = core_rows.transaction(trans_date=ist(days_ago=20), status="INITIATED", sabpaisa_resp_code="0100",
                                trans_complete_date=None)  # fmt: skip
    feed_poll()
    core_rows.execute("UPDATE transaction_detail SET status='FAILED', sabpaisa_resp_code='0300' WHERE txn_id=%s",
                      [row["txn_id"]])  # fmt: skip
    feed_poll()
    assert _types(feed_events()) == ["payment.failed", "payment.initiated"]


def test_status_word_and_code_disagree_the_code_wins_and_the_conflict_is_flagged(core_rows, feed_events):
    row = core_rows.transaction(trans_date=ist(days_ago=1), status="SUCCESS", sabpaisa_resp_code="0300")
    feed_poll()
    (event,) = feed_events()
    assert event.type == "payment.failed" and event.txn_id == row["txn_id"]
    assert event.payload["status_conflict"] is True and event.payload["status"] == "FAILED"
