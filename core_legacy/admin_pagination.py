"""A paginator that never COUNTs a big legacy table.

Unfiltered lists show PostgreSQL's row estimate (pg_class.reltuples, summed over
partitions); filtered lists count at most CAP+1 rows. Either way one page costs the same
at 10k rows and at 10M.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property


class CappedCountPaginator(Paginator):
    cap = 10_000

    @cached_property
    def count(self) -> int:
        qs = self.object_list
        if not qs.query.where:
            estimate = _estimated_rows(qs.db, qs.model._meta.db_table)
            if estimate is not None:
                return estimate
        return qs[: self.cap + 1].count()


def _estimated_rows(alias: str, table: str) -> int | None:
    with connections[alias].cursor() as cursor:
        cursor.execute(
            """
            SELECT coalesce(
                (SELECT sum(greatest(c.reltuples, 0)) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                  WHERE i.inhparent = to_regclass(%s)),
                (SELECT c.reltuples FROM pg_class c WHERE c.oid = to_regclass(%s)))
            """,
            [table, table],
        )
        (value,) = cursor.fetchone()
    if value is None or value < 0:
        return None  # never analysed: fall back to a capped count
    return int(value)
