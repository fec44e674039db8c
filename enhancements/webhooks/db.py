"""A server-side-binding psycopg cursor on Django's connection, for the hot delivery path.

Django's default PostgreSQL cursor binds parameters on the client (psycopg's ClientCursor):
every element of a parameter array is quoted into the SQL text in Python, with a regex per
string. For the fan-out insert and the outcome update (arrays of hundreds of UUIDs, bodies and
timestamps) that was the single largest CPU cost of a delivery. A plain psycopg `Cursor` sends
the parameters separately (adapted by psycopg's C extension) and lets us prepare the few
statements that run every batch. It shares Django's connection, so it takes part in the
surrounding `transaction.atomic()` block like any Django cursor.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
from django.db import connection


@contextlib.contextmanager
def fast_cursor() -> Iterator[psycopg.Cursor]:
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        yield cursor


def execute(cursor: psycopg.Cursor, sql: str, params=None) -> psycopg.Cursor:
    """Execute as a prepared statement (the statements on this path run every batch)."""
    return cursor.execute(sql, params, prepare=True)
