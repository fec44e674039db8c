"""For set-based SQL that must join enhancement rows with core rows.

When the core and the enhancement tables live in the same database (the default, as in
production), a statement on the `default` connection may *read* core tables by their
schema-qualified name: `core_table("transaction_detail")`. It must never write them (code
review + the tests' core checksums). When CORE_DATABASE_URL points elsewhere,
`core_is_same_database()` is False and such code must first stream the core rows it
needs into its own staging table (COPY out of `core`, COPY into `default`).
"""

from __future__ import annotations

from django.conf import settings
from django.db import connections


def core_is_same_database() -> bool:
    keys = ("NAME", "HOST", "PORT")
    default, core = settings.DATABASES["default"], settings.DATABASES["core"]
    return all(str(default.get(k) or "") == str(core.get(k) or "") for k in keys)


def core_table(table: str) -> str:
    """Schema-qualified, quoted name of a core table, for SQL on the `default` connection."""
    ops = connections["default"].ops
    return f"{ops.quote_name(settings.CORE_DB_SCHEMA)}.{ops.quote_name(table)}"
