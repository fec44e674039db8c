"""Build and insert core rows for tests, the way the core would write them.

Writes go through the core owner connection (as the seeder and the gateway simulator
do), never through the app's read-only `core` alias.
"""

from __future__ import annotations

import datetime as dt
import itertools

import psycopg

from core_legacy.fixture import FIXTURE_TABLES
from core_legacy.seeding.writer import insert_dicts

_ids = itertools.count(1)


def naive_ist(value: dt.datetime) -> dt.datetime:
    from core_legacy.fields import to_core_naive

    return to_core_naive(value)


class CoreRows:
    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    def merchant(self, **overrides) -> dict:
        client_id = overrides.pop("client_id", None) or 9000 + next(_ids)
        row = {
            "client_id": client_id, "client_code": f"TC{client_id}", "client_name": f"Test Merchant {client_id}",
            "active": True, "auth_key": "k", "auth_iv": "iv", "client_contact": "9000000000", "client_pass": "x",
            "client_user_name": f"tc{client_id}", "failed_ru_url": "https://m.example/f",
            "success_ru_url": "https://m.example/s", "push_api_url": "https://m.example/p",
            "client_logo_path": "/l.png", "is_unicode_allowed": 0, "refund_applicable": True,
            "is_whitelisted": True, "client_disable_flag": False, "risk_category": 1,
        }  # fmt: skip
        row.update(overrides)
        insert_dicts(self.conn, "client_data_table", [row])
        return row

    def transaction(self, **overrides) -> dict:
        n = next(_ids)
        trans_date = overrides.pop("trans_date", dt.datetime(2026, 11, 20, 10, 30))
        if trans_date.tzinfo is not None:
            trans_date = naive_ist(trans_date)
        row = {
            "txn_id": f"77{n:016d}", "trans_date": trans_date, "client_id": 1, "client_code": "TC1",
            "client_txn_id": f"CT-{n}", "status": "SUCCESS", "sabpaisa_resp_code": "0000",
            "paid_amount": 1000.0, "act_amount": 1000.0, "payee_amount": 1000.0, "payment_mode": "UPI",
            "payment_mode_id": 1, "trans_complete_date": trans_date + dt.timedelta(seconds=30),
            "convcharges": 0.0, "gst": 0.0, "is_settled": False, "is_charge_back": False,
        }  # fmt: skip
        row.update(overrides)
        insert_dicts(self.conn, "transaction_detail", [row])
        return row

    def refund_request(self, **overrides) -> dict:
        n = next(_ids)
        row = {"refund_id": 50_000 + n, "amount": "100.00", "client_code": "TC1", "client_id": "1",
               "client_txn_id": f"CT-{n}", "sp_txn_id": None}  # fmt: skip
        row.update(overrides)
        insert_dicts(self.conn, "refund_request_from_client", [row])
        return row

    def execute(self, query: str, params=None):
        return self.conn.execute(query, params)

    def delete_all(self) -> None:
        # DELETE, not TRUNCATE: the test's own read transaction on the core alias may still
        # hold a share lock that TRUNCATE would wait on forever.
        for table in ("client_payment_mode", "client_ep_mappings_configuration", *FIXTURE_TABLES):
            self.conn.execute(f"DELETE FROM {table}")
