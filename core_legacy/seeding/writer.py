"""Write rows into core tables with COPY (the seeder's and the tests' only way in)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import psycopg
from psycopg import sql


def copy_rows(conn: psycopg.Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
    """COPY rows (tuples in `columns` order) into `table`; returns the row count."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    count = 0
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def insert_dicts(conn: psycopg.Connection, table: str, rows: Sequence[Mapping]) -> int:
    """COPY a few rows given as dicts (columns = union of keys; missing keys are NULL)."""
    if not rows:
        return 0
    columns: list[str] = []
    for row in rows:
        for column in row:
            if column not in columns:
                columns.append(column)
    return copy_rows(conn, table, columns, ([row.get(c) for c in columns] for row in rows))
