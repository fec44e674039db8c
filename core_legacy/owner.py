"""A writable connection to the core database, for the processes that *play* the core.

Only the DDL fixture loader, the demo/test data seeder and the core gateway simulator
(integrations/core_gateway/simulator.py) use this. Application code never does: it reads
through the read-only `core` alias and changes the core through the gateway API.
"""

from __future__ import annotations

from contextlib import contextmanager

import psycopg
from django.conf import settings


def core_owner_conninfo() -> str:
    db = settings.DATABASES["core"]
    params = {
        "dbname": db["NAME"],
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": str(db["PORT"]) if db.get("PORT") else None,
        "options": f"-c search_path={settings.CORE_DB_SCHEMA}",
        "application_name": "core-owner",
    }
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in params.items() if v is not None})


@contextmanager
def core_owner_connection(*, autocommit: bool = False):
    with psycopg.connect(core_owner_conninfo(), autocommit=autocommit) as conn:
        yield conn
