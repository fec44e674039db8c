"""The core is read-only: every way application code could write fails loudly and writes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.db import connections

from core_legacy.errors import CoreWriteForbidden
from core_legacy.models import ClientDataTable, TransactionDetail

pytestmark = pytest.mark.django_db(databases=["default", "core"])


def _count(core_rows, table="transaction_detail"):
    return core_rows.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_model_save_and_delete_are_refused_and_write_nothing(core_rows):
    core_rows.transaction(txn_id="100000000000000001", paid_amount=500.0)
    txn = TransactionDetail.objects.get(txn_id="100000000000000001")
    txn.paid_amount = 1.0
    with pytest.raises(CoreWriteForbidden, match="read-only"):
        txn.save()
    with pytest.raises(CoreWriteForbidden):
        txn.delete()
    assert core_rows.execute("SELECT paid_amount FROM transaction_detail").fetchone()[0] == 500.0


@pytest.mark.parametrize(
    "write",
    [
        lambda: TransactionDetail.objects.update(paid_amount=0),
        lambda: TransactionDetail.objects.filter(status="SUCCESS").delete(),
        lambda: TransactionDetail.objects.create(txn_id="x", trans_date=dt.datetime(2026, 1, 1)),
        lambda: TransactionDetail.objects.bulk_create([TransactionDetail(txn_id="y")]),
        lambda: TransactionDetail.objects.get_or_create(txn_id="z"),
        lambda: TransactionDetail.objects.using("default").update(paid_amount=0),
        lambda: ClientDataTable.objects.update_or_create(client_id=1, defaults={"client_name": "x"}),
    ],
    ids=["update", "delete", "create", "bulk_create", "get_or_create", "update_via_default", "update_or_create"],
)
def test_queryset_writes_are_refused(core_rows, write):
    core_rows.transaction(paid_amount=500.0)
    with pytest.raises(CoreWriteForbidden, match="core table"):
        write()
    assert _count(core_rows) == 1
    assert core_rows.execute("SELECT paid_amount FROM transaction_detail").fetchone()[0] == 500.0


def test_router_refuses_writes_even_for_unsaved_instances():
    from django.db import router

    with pytest.raises(CoreWriteForbidden):
        router.db_for_write(TransactionDetail)
    assert router.db_for_read(TransactionDetail) == "core"


def test_raw_sql_writes_on_core_connection_are_refused_before_reaching_postgres(core_rows):
    core_rows.transaction(paid_amount=500.0)
    with connections["core"].cursor() as cursor:
        for statement in (
            "UPDATE transaction_detail SET paid_amount = 0",
            "  delete from transaction_detail",
            "/* sneaky */ INSERT INTO partner_bank (partner_bank_id) VALUES (99)",
            "WITH d AS (DELETE FROM transaction_detail RETURNING 1) SELECT count(*) FROM d",
            "TRUNCATE transaction_detail",
            "CREATE TABLE evil (x int)",
        ):
            with pytest.raises(CoreWriteForbidden):
                cursor.execute(statement)
    assert core_rows.execute("SELECT paid_amount FROM transaction_detail").fetchone()[0] == 500.0


def test_core_session_itself_is_read_only_even_past_the_guard(core_rows):
    """Second lock: with the SQL guard out of the way, PostgreSQL still refuses."""
    core_rows.transaction(paid_amount=500.0)
    connection = connections["core"]
    connection.ensure_connection()
    with connection.connection.cursor() as raw:
        raw.execute("SHOW transaction_read_only")
        assert raw.fetchone()[0] == "on"
        with pytest.raises(Exception, match="read-only transaction"):
            raw.execute("SELECT 1; UPDATE transaction_detail SET paid_amount = 0")
    connection.connection.rollback()
    assert core_rows.execute("SELECT paid_amount FROM transaction_detail").fetchone()[0] == 500.0


def test_migrations_never_touch_core_tables():
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections["default"])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes(), clean_start=True)
    touched = set()
    for migration, _backwards in plan:
        for operation in migration.operations:
            name = getattr(operation, "name", None) or getattr(operation, "model_name", None)
            if name:
                touched.add((migration.app_label, name.lower()))
    assert not [t for t in touched if t[0] == "core_legacy"]
    # and the router forbids them on any alias
    from django.db import router

    assert router.allow_migrate("default", "core_legacy") is False
    assert router.allow_migrate("core", "core_legacy") is False
    assert router.allow_migrate("core", "auth") is False


def test_migrate_on_core_alias_is_refused_and_creates_nothing(core_rows):
    before = core_rows.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
    ).fetchone()[0]
    with pytest.raises(CoreWriteForbidden, match="CREATE"):
        call_command("migrate", database="core", interactive=False, verbosity=0)
    after = core_rows.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
    ).fetchone()[0]
    assert before == after


def test_enhancement_tables_live_in_their_own_schema_beside_the_core(core_rows):
    rows = core_rows.execute(
        "SELECT table_schema FROM information_schema.tables WHERE table_name = 'django_migrations'"
    ).fetchall()
    assert rows == [("enh",)]
    assert core_rows.execute(
        "SELECT table_schema FROM information_schema.tables WHERE table_name = 'transaction_detail'"
    ).fetchall() == [("public",)]


def test_select_only_role_as_in_production(core_rows, settings):
    """A connection configured as production would be (SELECT-only role + read-only
    session + production's read-only verification) reads the core and cannot write it."""
    import psycopg
    from django.db import connections as conns
    from django.db.utils import ConnectionHandler

    core_rows.transaction(paid_amount=500.0)
    core_rows.execute("DROP ROLE IF EXISTS core_reader_test")
    core_rows.execute("CREATE ROLE core_reader_test LOGIN")
    core_rows.execute("GRANT USAGE ON SCHEMA public TO core_reader_test")
    core_rows.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO core_reader_test")
    try:
        databases = {alias: dict(conns[alias].settings_dict) for alias in ("default", "core")}
        databases["core"]["USER"] = "core_reader_test"
        settings.CORE_REQUIRE_READ_ONLY_SESSION = True
        handler = ConnectionHandler(databases)
        core = handler["core"]
        with core.cursor() as cursor:
            cursor.execute("SELECT paid_amount FROM transaction_detail")
            assert cursor.fetchone()[0] == 500.0
        with pytest.raises(CoreWriteForbidden):
            with core.cursor() as cursor:
                cursor.execute("UPDATE transaction_detail SET paid_amount = 0")
        with core.connection.cursor() as raw, pytest.raises(psycopg.Error):
            raw.execute("SET transaction_read_only = off; UPDATE transaction_detail SET paid_amount = 0")
        core.close()
    finally:
        core_rows.execute("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM core_reader_test")
        core_rows.execute("REVOKE ALL ON SCHEMA public FROM core_reader_test")
        core_rows.execute("DROP ROLE core_reader_test")
    assert core_rows.execute("SELECT paid_amount FROM transaction_detail").fetchone()[0] == 500.0


def test_production_refuses_a_core_connection_that_is_not_read_only(core_rows, settings):
    from django.core.exceptions import ImproperlyConfigured
    from django.db.utils import ConnectionHandler

    databases = {alias: dict(connections[alias].settings_dict) for alias in ("default", "core")}
    databases["core"]["OPTIONS"] = {"options": "-c default_transaction_read_only=off"}
    settings.CORE_REQUIRE_READ_ONLY_SESSION = True
    handler = ConnectionHandler(databases)
    with pytest.raises(ImproperlyConfigured, match="not read-only"):
        handler["core"].ensure_connection()
    handler["core"].close()
