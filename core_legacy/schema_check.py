"""Compare the unmanaged models with the live core database (drift detection).

Incompatible drift (missing table/column, incompatible type, NULLs where the model
cannot take them) is an error; extra database columns and missing indexes the
application relies on are warnings.
"""

from __future__ import annotations

import dataclasses

from django.apps import apps
from django.conf import settings
from django.db import connections

# Indexes the application relies on (leading columns), see docs/legacy-schema.md.
RELIED_ON_INDEXES = {
    "transaction_detail": [("txn_id", "trans_date"), ("trans_date",), ("client_code",)],
    "client_data_table": [("client_id",), ("client_code",)],
    "refund_request_from_client": [("refund_id",)],
}

_COMPATIBLE = {
    "IntegerField": {"integer", "smallint"},
    "SmallIntegerField": {"smallint"},
    "BigIntegerField": {"bigint", "integer", "smallint"},
    "FloatField": {"double precision", "real"},
    "TextField": {"text", "character varying", "character"},
    "CharField": {"character varying", "text", "character"},
    "BooleanField": {"boolean"},
    "DateTimeField": {"timestamp without time zone"},
    "DateField": {"date"},
    "DecimalField": {"numeric"},
}


@dataclasses.dataclass(frozen=True)
class Drift:
    severity: str  # "error" | "warning"
    table: str
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        return f"[{self.severity}] {where}: {self.message}"


def _live_columns(cursor, schema: str) -> dict[str, dict[str, tuple[str, bool]]]:
    cursor.execute(
        "SELECT table_name, column_name, data_type, is_nullable = 'YES' FROM information_schema.columns "
        "WHERE table_schema = %s",
        [schema],
    )
    tables: dict[str, dict[str, tuple[str, bool]]] = {}
    for table, column, data_type, nullable in cursor.fetchall():
        tables.setdefault(table, {})[column] = (data_type, nullable)
    return tables


def _live_indexes(cursor, schema: str) -> dict[str, list[tuple[str, ...]]]:
    cursor.execute(
        """
        SELECT t.relname, array_agg(a.attname ORDER BY k.ord)
        FROM pg_index i
        JOIN pg_class t ON t.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
        WHERE n.nspname = %s
        GROUP BY i.indexrelid, t.relname
        """,
        [schema],
    )
    indexes: dict[str, list[tuple[str, ...]]] = {}
    for table, columns in cursor.fetchall():
        indexes.setdefault(table, []).append(tuple(columns))
    return indexes


def _internal_type(field) -> str:
    # IndiaNaiveDateTimeField reports DateTimeField.
    return field.get_internal_type()


def check_core_schema(using: str = "core") -> list[Drift]:
    schema = settings.CORE_DB_SCHEMA
    with connections[using].cursor() as cursor:
        live = _live_columns(cursor, schema)
        indexes = _live_indexes(cursor, schema)
    problems: list[Drift] = []
    for model in apps.get_app_config("core_legacy").get_models():
        table = model._meta.db_table
        columns = live.get(table)
        if columns is None:
            problems.append(Drift("error", table, None, "table is missing from the core database"))
            continue
        mapped = set()
        for field in model._meta.concrete_fields:
            mapped.add(field.column)
            if field.column not in columns:
                problems.append(Drift("error", table, field.column, "column is missing"))
                continue
            data_type, nullable = columns[field.column]
            expected = _COMPATIBLE[_internal_type(field)]
            if data_type not in expected:
                problems.append(
                    Drift("error", table, field.column, f"type {data_type} is not compatible with {field.__class__.__name__}")
                )
            if nullable and not field.null and not field.primary_key:
                problems.append(Drift("error", table, field.column, "column allows NULL but the model cannot hold it"))
        for extra in sorted(set(columns) - mapped):
            problems.append(Drift("warning", table, extra, f"extra column ({columns[extra][0]}) not mapped by the model"))
        for wanted in RELIED_ON_INDEXES.get(table, []):
            if not any(idx[: len(wanted)] == wanted for idx in indexes.get(table, [])):
                problems.append(Drift("warning", table, None, f"no index led by ({', '.join(wanted)}); reads will scan"))
    return problems
