import datetime as dt

import pytest
from django.core.management import call_command
from django.db import connection

from enhancements.platform import crypto
from enhancements.platform.partitions import drop_partitions_before, ensure_monthly_partitions, monthly_partitions


@pytest.fixture
def partitioned_log(db):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE demo_log (id bigint, at timestamptz NOT NULL, msg text) PARTITION BY RANGE (at)")
        cursor.execute("CREATE TABLE demo_log_default PARTITION OF demo_log DEFAULT")
    yield "demo_log"
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE demo_log")


def _count(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def test_partitions_are_created_ahead_and_rows_move_out_of_default(partitioned_log):
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO demo_log VALUES (1, '2026-10-15T10:00Z', 'early'), (2, '2026-12-01T00:00Z', 'later')")
    created = ensure_monthly_partitions("demo_log", start=dt.date(2026, 10, 20), months=3)
    assert created == ["demo_log_p202610", "demo_log_p202611", "demo_log_p202612"]
    assert ensure_monthly_partitions("demo_log", start=dt.date(2026, 10, 1), months=3) == []  # idempotent
    assert _count("SELECT count(*) FROM demo_log_default") == 0
    assert _count("SELECT count(*) FROM demo_log_p202610") == 1 and _count("SELECT count(*) FROM demo_log_p202612") == 1
    assert [name for name, _ in monthly_partitions("demo_log")] == created


def test_retention_drops_whole_months_only(partitioned_log):
    ensure_monthly_partitions("demo_log", start=dt.date(2026, 8, 1), months=4)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO demo_log VALUES (1, '2026-08-31T23:00Z', 'old'), (2, '2026-09-02T00:00Z', 'keep')")
    dropped = drop_partitions_before("demo_log", cutoff=dt.date(2026, 9, 15))
    assert dropped == ["demo_log_p202608"]  # September is not over at the cutoff: kept
    assert _count("SELECT count(*) FROM demo_log") == 1


def test_encryption_round_trips_and_rotates(settings):
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FERNET_KEYS = [old]
    token = crypto.encrypt("whsec_secret")
    assert "whsec_secret" not in token and crypto.decrypt(token) == "whsec_secret"
    settings.FERNET_KEYS = [new, old]  # rotation: new key first, old still decrypts
    assert crypto.decrypt(token) == "whsec_secret"
    settings.FERNET_KEYS = [new]
    with pytest.raises(ValueError, match="cannot decrypt"):
        crypto.decrypt(token)


@pytest.mark.django_db
def test_demo_operator_login_is_printed_and_works(capsys, client):
    call_command("ensure_demo_operator")
    out = capsys.readouterr().out
    password = out.strip().rsplit("password=", 1)[1]
    assert client.login(username="operator", password=password)
    assert client.get("/admin/").status_code == 200


def test_socket_urls_from_the_embedded_server_are_usable():
    from settings.databases import build_databases

    dbs = build_databases(database_url="postgresql://postgres:@/x?host=/tmp/pg", core_database_url="postgresql://postgres:@/x?host=/tmp/pg",
                          enhancement_schema="enh", core_schema="public")  # fmt: skip
    assert dbs["default"]["HOST"] == "/tmp/pg" and "host" not in dbs["default"]["OPTIONS"]
    assert dbs["core"]["HOST"] == "/tmp/pg"
