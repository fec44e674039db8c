"""Load the legacy DDL fixture into an empty core database (demo and tests only)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
from psycopg import sql

SCHEMA_SQL = Path(__file__).resolve().parent / "sql" / "core_schema.sql"
FIXTURE_TABLES = (
    "transaction_detail", "refund_request_from_client", "gateway_response", "client_data_table",
    "client_payment_mode", "client_ep_mappings_configuration", "fee_data_table", "payment_mode",
    "endpoint_data_table", "partner_bank", "payment_status_master", "settled_transactions",
    "transactions_to_settle", "settlement_data_t", "transaction_recon_table", "reconciliation_data", "admin_user",
)  # fmt: skip


class CoreSchemaExists(RuntimeError):
    pass


def existing_core_tables(conn: psycopg.Connection, schema: str) -> list[str]:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_name = ANY(%s)",
        (schema, list(FIXTURE_TABLES)),
    ).fetchall()
    return sorted(r[0] for r in rows)


def load_core_schema(conn: psycopg.Connection, *, schema: str, months_back: int = 24, months_ahead: int = 12) -> None:
    """Create the fixture tables and monthly partitions around today, in one transaction."""
    present = existing_core_tables(conn, schema)
    if present:
        raise CoreSchemaExists(
            f"core tables already exist in schema {schema!r}: {', '.join(present)}; nothing was loaded"
        )
    with conn.transaction():
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
        conn.execute(SCHEMA_SQL.read_text())
        today = dt.date.today()
        ensure_month_partitions(
            conn, start=_add_months(today, -months_back), end=_add_months(today, months_ahead), schema=schema
        )


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def ensure_month_partitions(conn: psycopg.Connection, *, start: dt.date, end: dt.date, schema: str) -> int:
    """Create transaction_detail's monthly partitions covering [start, end]; returns how many were new.

    The real core has a job that does this ahead of time; the seeder calls it for its range.
    """
    created = 0
    month = dt.date(start.year, start.month, 1)
    while month <= end:
        following = _add_months(month, 1)
        name = f"transaction_detail_y{month.year}m{month.month:02d}"
        exists = conn.execute(
            "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
            (schema, name),
        ).fetchone()
        if not exists:
            conn.execute(
                sql.SQL("CREATE TABLE {}.{} PARTITION OF {}.transaction_detail FOR VALUES FROM ({}) TO ({})").format(
                    sql.Identifier(schema),
                    sql.Identifier(name),
                    sql.Identifier(schema),
                    sql.Literal(month.isoformat()),
                    sql.Literal(following.isoformat()),
                )
            )
            created += 1
        month = following
    return created
