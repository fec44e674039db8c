"""The DDL fixture keeps the quirks; the seeder is realistic, deterministic and all-or-nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from core_legacy.conversions import PaymentStatus
from core_legacy.fixture import CoreSchemaExists, load_core_schema
from core_legacy.seeding.generator import seed_core

pytestmark = pytest.mark.django_db(databases=["default", "core"])


def test_fixture_keeps_the_legacy_quirks(core_rows):
    cols = dict(core_rows.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema='public' AND table_name='transaction_detail'"
    ).fetchall())  # fmt: skip
    assert len(cols) == 131
    assert cols["paid_amount"] == "double precision" and cols["refund_date"] == "text"
    assert cols["trans_date"] == "timestamp without time zone"
    assert "bankTxnId" in cols and "payee_lst_name" in cols and "broser_name" in cols
    assert "payer_confirmation_respones" in cols
    kind = core_rows.execute("SELECT relkind FROM pg_class WHERE relname = 'transaction_detail'").fetchone()[0]
    assert kind == "p"  # partitioned by trans_date
    key = core_rows.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'transaction_detail'::regclass AND contype = 'p'"
    ).fetchone()[0]
    assert key == "PRIMARY KEY (txn_id, trans_date)"
    no_pk = core_rows.execute(
        "SELECT count(*) FROM pg_constraint WHERE conrelid = 'settled_transactions'::regclass AND contype = 'p'"
    ).fetchone()[0]
    assert no_pk == 0
    client_cols = core_rows.execute(
        "SELECT count(*) FROM information_schema.columns WHERE table_schema='public' AND table_name='client_data_table'"
    ).fetchone()[0]
    assert client_cols == 66
    assert core_rows.execute(
        "SELECT data_type FROM information_schema.columns WHERE table_name='payment_mode' AND column_name='active'"
    ).fetchone()[0] == "character varying"


def test_load_core_schema_refuses_when_tables_exist(core_rows):
    with pytest.raises(CoreSchemaExists, match="already exist"):
        load_core_schema(core_rows.conn, schema=settings.CORE_DB_SCHEMA)
    with pytest.raises(CommandError, match="already exist"):
        call_command("load_core_schema")


def test_load_core_schema_refuses_under_production_settings(settings):
    settings.ENVIRONMENT = "production"
    with pytest.raises(CommandError, match="production"):
        call_command("load_core_schema")
    with pytest.raises(CommandError, match="production"):
        call_command("seed_core", "--transactions", "10")


def _snapshot(core_rows):
    return core_rows.execute(
        "SELECT md5(string_agg(t::text, '|' ORDER BY txn_id)) FROM transaction_detail t"
    ).fetchone()[0]


def test_seed_is_deterministic_and_realistic(core_rows):
    kwargs = dict(transactions=3000, clients=12, days=30, seed=5, end_date=dt.date(2026, 11, 20), schema="public")
    result = seed_core(core_rows.conn, **kwargs)
    assert result.transactions == 3000 and result.clients == 12 and result.settlements > 0
    first = _snapshot(core_rows)
    core_rows.delete_all()
    seed_core(core_rows.conn, **kwargs)
    assert _snapshot(core_rows) == first  # same arguments, same rows

    codes = dict(core_rows.execute("SELECT sabpaisa_resp_code, count(*) FROM transaction_detail GROUP BY 1").fetchall())
    assert set(codes) == {"0000", "0100", "0200", "0300", "0400", "0600", "0700", "0800"}
    disagree = core_rows.execute(
        "SELECT count(*) FROM transaction_detail WHERE (sabpaisa_resp_code = '0000' AND upper(status) NOT LIKE 'SUCCESS%%')"
        " OR (sabpaisa_resp_code = '0300' AND upper(status) NOT LIKE 'FAIL%%')"
    ).fetchone()[0]
    assert disagree > 0
    utr = core_rows.execute("SELECT count(*) FROM transaction_detail WHERE is_settled AND settlement_utr IS NOT NULL").fetchone()[0]
    assert utr > 0
    assert core_rows.execute("SELECT count(*) FROM transaction_detail WHERE is_charge_back").fetchone()[0] >= 1
    assert core_rows.execute("SELECT count(*) FROM transaction_detail WHERE pg_txn_id IS NULL").fetchone()[0] > 50
    odd_text = core_rows.execute("SELECT count(*) FROM refund_request_from_client WHERE amount LIKE '%%,%%' OR amount LIKE ' %%' OR amount LIKE '%% '").fetchone()[0]
    assert odd_text > 0
    lo, hi = core_rows.execute("SELECT min(trans_date), max(trans_date) FROM transaction_detail").fetchone()
    assert lo >= dt.datetime(2026, 10, 21) and hi <= dt.datetime(2026, 11, 20, 23, 59, 59)
    # every seeded row passes the boundary translation
    from core_legacy import selectors

    txns = list(selectors.transactions_between(start=dt.datetime(2026, 10, 1, tzinfo=dt.timezone.utc),
                                               end=dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)))  # fmt: skip
    assert len(txns) == 3000
    assert {t.status for t in txns} == set(PaymentStatus)
    assert all(isinstance(t.paid_amount, Decimal) for t in txns)


def test_seed_is_all_or_nothing_and_refuses_to_reuse_a_seed(core_rows):
    kwargs = dict(transactions=200, clients=3, days=5, seed=9, end_date=dt.date(2026, 11, 20), schema="public")
    seed_core(core_rows.conn, **kwargs)
    with pytest.raises(ValueError, match="another --seed"):
        seed_core(core_rows.conn, **kwargs)
    assert core_rows.execute("SELECT count(*) FROM transaction_detail").fetchone()[0] == 200


def test_seed_command_shows_progress_and_summary(core_rows, capsys):
    call_command("seed_core", "--transactions", "1000", "--clients", "4", "--days", "3", "--seed", "11",
                 "--end-date", "2026-11-20")  # fmt: skip
    out, err = capsys.readouterr()
    assert "1,000/1,000 transactions" in err
    assert "seeded 4 clients, 1,000 transactions" in out


def test_seed_if_empty_leaves_a_populated_core_alone(core_rows, capsys):
    core_rows.transaction(txn_id="EXISTING")
    call_command("seed_core", "--if-empty", "--transactions", "50")
    assert "nothing seeded" in capsys.readouterr().out
    assert core_rows.execute("SELECT count(*) FROM transaction_detail").fetchone()[0] == 1
