"""Django system check: the core database still matches the unmanaged models.

Tagged `database`, so it runs with `manage.py check --database core` and during
`migrate`, not on every command.
"""

from django.core import checks
from django.db import DatabaseError

from .schema_check import check_core_schema


@checks.register(checks.Tags.database)
def core_schema_matches_models(app_configs=None, databases=None, **kwargs):
    if not databases or "core" not in databases:
        return []
    try:
        problems = check_core_schema("core")
    except DatabaseError as exc:
        return [checks.Error(f"cannot read the core schema: {exc}", id="core_legacy.E000")]
    messages = []
    for drift in problems:
        if drift.severity == "error":
            messages.append(checks.Error(str(drift), id="core_legacy.E001"))
        else:
            messages.append(checks.Warning(str(drift), id="core_legacy.W001"))
    return messages
