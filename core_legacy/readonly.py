"""Connection-level guards for the `core` alias.

The session is read-only by connection option (settings/databases.py). On top of it:
- every statement sent through Django's `core` connection passes a guard that refuses
  data-changing SQL with a clear CoreWriteForbidden before PostgreSQL sees it;
- with CORE_REQUIRE_READ_ONLY_SESSION (production), each new core connection asks the
  server whether its transactions are read-only and refuses to be used if not.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.backends.signals import connection_created

from .errors import CoreWriteForbidden

CORE_ALIAS = "core"
_WRITE_SQL = re.compile(
    r"^\s*(?:/\*.*?\*/\s*)*(INSERT|UPDATE|DELETE|MERGE|TRUNCATE|CREATE|ALTER|DROP|GRANT|REVOKE|COPY|CALL|"
    r"VACUUM|REINDEX|CLUSTER|REFRESH|LOCK|COMMENT|SECURITY|IMPORT)\b",
    re.IGNORECASE | re.DOTALL,
)
_DATA_MODIFYING_CTE = re.compile(r"\bWITH\b.*\b(INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE | re.DOTALL)


def refuse_core_writes(execute, sql, params, many, context):
    text = sql if isinstance(sql, str) else str(sql)
    match = _WRITE_SQL.match(text) or (text.lstrip()[:4].upper() == "WITH" and _DATA_MODIFYING_CTE.search(text))
    if match:
        verb = match.group(1).upper()
        raise CoreWriteForbidden(
            f"{verb} on the core connection refused: the payment core is read-only to this service; "
            "send changes through integrations.core_gateway."
        )
    return execute(sql, params, many, context)


def _on_connection_created(sender, connection, **kwargs) -> None:
    if connection.alias != CORE_ALIAS:
        return
    if refuse_core_writes not in connection.execute_wrappers:
        connection.execute_wrappers.append(refuse_core_writes)
    if getattr(settings, "CORE_REQUIRE_READ_ONLY_SESSION", False):
        with connection.connection.cursor() as cursor:
            cursor.execute("SHOW transaction_read_only")
            (value,) = cursor.fetchone()
        if value != "on":
            connection.connection.close()
            raise ImproperlyConfigured(
                "The core connection is not read-only (SHOW transaction_read_only = "
                f"{value!r}); refusing to use it. Use a SELECT-only role and default_transaction_read_only=on."
            )


def install() -> None:
    connection_created.connect(_on_connection_created, dispatch_uid="core_legacy.readonly")
