"""check_core_schema: the mirror is compared with the live core and drift is named."""

from __future__ import annotations

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import CommandError

from core_legacy.fixture import load_core_schema

pytestmark = pytest.mark.django_db(databases=["default", "core"])


def test_the_fixture_matches_the_models(capsys):
    call_command("check_core_schema")
    assert "core schema compatible (0 warning(s))" in capsys.readouterr().out
    assert checks.run_checks(databases=["core"], tags=[checks.Tags.database]) == []


@pytest.fixture
def drifted_schema(core_rows, settings):
    core_rows.execute("DROP SCHEMA IF EXISTS drifted CASCADE")
    load_core_schema(core_rows.conn, schema="drifted")
    core_rows.execute("SET search_path TO drifted")
    for statement in (
        "ALTER TABLE transaction_detail DROP COLUMN vpa",  # missing column
        "ALTER TABLE transaction_detail ALTER COLUMN paid_amount TYPE numeric(12,2)",  # money type changed
        "ALTER TABLE transaction_detail ALTER COLUMN refund_date TYPE timestamptz USING NULL",  # incompatible
        "ALTER TABLE client_data_table ALTER COLUMN auth_key DROP NOT NULL",  # model can't take NULL
        "ALTER TABLE client_data_table ADD COLUMN kyc_status text",  # extra: reported, not fatal
        "DROP TABLE payment_status_master",  # missing table
        "DROP INDEX idx_transaction_detail_trans_date",  # relied-on index gone
    ):
        core_rows.execute(statement)
    core_rows.execute("SET search_path TO public")
    settings.CORE_DB_SCHEMA = "drifted"
    yield
    core_rows.execute("DROP SCHEMA drifted CASCADE")


def test_drift_is_named_and_fails_the_command(drifted_schema, capsys):
    with pytest.raises(CommandError, match=r"5 incompatible problem\(s\)"):
        call_command("check_core_schema")
    out, err = capsys.readouterr()
    assert "[error] transaction_detail.vpa: column is missing" in err
    assert "[error] transaction_detail.paid_amount: type numeric is not compatible with FloatField" in err
    assert "[error] transaction_detail.refund_date: type timestamp with time zone" in err
    assert "[error] client_data_table.auth_key: column allows NULL" in err
    assert "[error] payment_status_master: table is missing" in err
    assert "[warning] client_data_table.kyc_status: extra column (text)" in out
    assert "[warning] transaction_detail: no index led by (trans_date)" in out


def test_drift_is_a_django_system_check_on_the_core_database(drifted_schema):
    messages = checks.run_checks(databases=["core"], tags=[checks.Tags.database])
    ids = sorted({m.id for m in messages})
    assert ids == ["core_legacy.E001", "core_legacy.W001"]
    assert sum(1 for m in messages if m.id == "core_legacy.E001") == 5
