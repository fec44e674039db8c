"""Monthly range partitions for fast-growing enhancement tables (webhook logs, fee log).

A table is created in a migration as `PARTITION BY RANGE (<timestamp column>)` with a
DEFAULT partition; these helpers create the monthly partitions ahead of time (beat job)
and drop whole partitions past the retention period, which is instant and leaves no bloat.
Partition names: <table>_pYYYYMM.
"""

from __future__ import annotations

import datetime as dt
import re

from django.db import connection, transaction

_NAME = re.compile(r"^(?P<table>.+)_p(?P<year>\d{4})(?P<month>\d{2})$")


def _month_start(day: dt.date) -> dt.date:
    return dt.date(day.year, day.month, 1)


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _qualified(table: str) -> str:
    return connection.ops.quote_name(table)


def ensure_monthly_partitions(table: str, *, start: dt.date, months: int) -> list[str]:
    """Create missing partitions for `months` months from start's month; returns new names.

    Rows already sitting in the DEFAULT partition for such a month are moved into it.
    """
    created = []
    month = _month_start(start)
    with transaction.atomic(), connection.cursor() as cursor:
        for _ in range(months):
            following = _add_months(month, 1)
            name = f"{table}_p{month:%Y%m}"
            cursor.execute("SELECT to_regclass(%s)", [name])
            if cursor.fetchone()[0] is None:
                default = f"{table}_default"
                cursor.execute(f"ALTER TABLE {_qualified(table)} DETACH PARTITION {_qualified(default)}")
                cursor.execute(
                    f"CREATE TABLE {_qualified(name)} PARTITION OF {_qualified(table)} FOR VALUES FROM (%s) TO (%s)",
                    [month.isoformat(), following.isoformat()],
                )
                column = _partition_column(cursor, table)
                cursor.execute(
                    f"WITH moved AS (DELETE FROM {_qualified(default)} WHERE {column} >= %s AND {column} < %s RETURNING *) "
                    f"INSERT INTO {_qualified(table)} SELECT * FROM moved",
                    [month.isoformat(), following.isoformat()],
                )
                cursor.execute(f"ALTER TABLE {_qualified(table)} ATTACH PARTITION {_qualified(default)} DEFAULT")
                created.append(name)
            month = following
    return created


def _partition_column(cursor, table: str) -> str:
    cursor.execute(
        """
        SELECT a.attname FROM pg_partitioned_table p
        JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
        WHERE p.partrelid = to_regclass(%s)
        """,
        [table],
    )
    return connection.ops.quote_name(cursor.fetchone()[0])


def monthly_partitions(table: str) -> list[tuple[str, dt.date]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(%s)",
            [table],
        )
        names = [r[0] for r in cursor.fetchall()]
    result = []
    for name in names:
        match = _NAME.match(name)
        if match and match.group("table") == table:
            result.append((name, dt.date(int(match.group("year")), int(match.group("month")), 1)))
    return sorted(result, key=lambda item: item[1])


def drop_partitions_before(table: str, *, cutoff: dt.date) -> list[str]:
    """Drop monthly partitions whose whole month ends on or before `cutoff`; returns dropped names."""
    dropped = []
    with transaction.atomic(), connection.cursor() as cursor:
        for name, month in monthly_partitions(table):
            if _add_months(month, 1) <= cutoff:
                cursor.execute(f"ALTER TABLE {_qualified(table)} DETACH PARTITION {_qualified(name)}")
                cursor.execute(f"DROP TABLE {_qualified(name)}")
                dropped.append(name)
    return dropped
