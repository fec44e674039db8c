"""The per-transaction settings set-based statements run under."""

import pytest
from django.db import DatabaseError, connection, transaction

from enhancements.platform.sql_session import bulk_write_workers

pytestmark = pytest.mark.django_db


def _workers(cursor) -> str:
    cursor.execute("SELECT current_setting('max_parallel_workers_per_gather')")
    return cursor.fetchone()[0]


def test_bulk_writes_run_with_the_configured_workers_and_the_rest_of_the_transaction_as_before(settings):
    settings.BULK_WRITE_WORKERS = 3
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 5")
        with bulk_write_workers(cursor):
            assert _workers(cursor) == "3"
        assert _workers(cursor) == "5"


def test_a_failed_bulk_write_leaves_the_setting_to_the_rollback(settings):
    with connection.cursor() as cursor:
        before = _workers(cursor)
        settings.BULK_WRITE_WORKERS = int(before) + 3
        with pytest.raises(DatabaseError, match="division by zero"), transaction.atomic():
            with bulk_write_workers(cursor):
                cursor.execute("SELECT 1 / 0")
        assert _workers(cursor) == before


def test_a_bulk_write_that_fails_in_python_restores_the_setting(settings):
    with transaction.atomic(), connection.cursor() as cursor:
        before = _workers(cursor)
        settings.BULK_WRITE_WORKERS = int(before) + 3
        with pytest.raises(ValueError, match="not a number"), bulk_write_workers(cursor):
            assert _workers(cursor) == str(int(before) + 3)
            int("not a number")
        assert _workers(cursor) == before


def test_an_error_rolled_back_inside_the_block_still_restores_the_setting(settings):
    """A savepoint inside the block took the failed statement back; its error passes through
    the block, which restores the setting for the rest of the transaction."""
    with transaction.atomic(), connection.cursor() as cursor:
        before = _workers(cursor)
        settings.BULK_WRITE_WORKERS = int(before) + 3
        with pytest.raises(DatabaseError, match="division by zero"), bulk_write_workers(cursor):
            with transaction.atomic():
                cursor.execute("SELECT 1 / 0")
        assert _workers(cursor) == before
