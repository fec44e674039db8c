"""Test database: one real PostgreSQL database holding the legacy core fixture (public
schema) and the enhancement tables (their own schema), as in production.

pytest-django's own test-database creation is replaced: it would give `core` a
separate (or mirrored, option-less) connection. Here both aliases keep their settings
(core stays read-only) and point at TEST_DATABASE_NAME, created fresh per session.
"""

from __future__ import annotations

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from psycopg import sql


def _admin_conninfo() -> str:
    db = settings.DATABASES["default"]
    params = {"dbname": "postgres", "user": db.get("USER") or None, "password": db.get("PASSWORD") or None,
              "host": db.get("HOST") or None, "port": str(db["PORT"]) if db.get("PORT") else None}  # fmt: skip
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in params.items() if v is not None})


def _recreate_database(name: str) -> None:
    with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _drop_database(name: str) -> None:
    with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def django_db_setup(django_db_blocker):
    from core_legacy.fixture import load_core_schema
    from core_legacy.owner import core_owner_connection

    name = settings.TEST_DATABASE_NAME
    with django_db_blocker.unblock():
        _recreate_database(name)
        with core_owner_connection() as conn:
            load_core_schema(conn, schema=settings.CORE_DB_SCHEMA)
        call_command("migrate", database="default", interactive=False, verbosity=0)
    yield
    with django_db_blocker.unblock():
        connections.close_all()
        _drop_database(name)


@pytest.fixture
def core_rows(django_db_setup, django_db_blocker):
    """Insert core rows as the core would (owner connection); emptied after the test."""
    from core_legacy.owner import core_owner_connection
    from tests.core_rows import CoreRows

    with django_db_blocker.unblock(), core_owner_connection(autocommit=True) as conn:
        rows = CoreRows(conn)
        try:
            yield rows
        finally:
            rows.delete_all()


@pytest.fixture
def celery_worker(django_db_setup):
    """A real Celery worker process for this test (use with django_db(transaction=True))."""
    from tests.celery_worker import running_celery_worker

    with running_celery_worker() as proc:
        yield proc
