from django.apps import AppConfig
from django.db.models.signals import pre_migrate


def ensure_enhancement_schema(sender, using, **kwargs):
    """Create the enhancement tables' own PostgreSQL schema before migrations run.

    The `default` connection's search_path starts with it; PostgreSQL skips a missing
    schema on the path, so without this the first migration would land in `public`.
    """
    from django.conf import settings
    from django.db import connections

    if using != "default":
        return
    with connections[using].cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{settings.ENHANCEMENT_DB_SCHEMA}"')


class PlatformConfig(AppConfig):
    name = "enhancements.platform"
    label = "platform"
    verbose_name = "Platform"

    def ready(self) -> None:
        pre_migrate.connect(ensure_enhancement_schema, dispatch_uid="platform.ensure_enhancement_schema")
        from . import schema  # noqa: F401  (registers the OpenAPI auth scheme)
