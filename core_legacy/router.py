"""Send core_legacy models to the read-only `core` alias; keep everything else off it."""

from __future__ import annotations

from .errors import CoreWriteForbidden

CORE_APP = "core_legacy"
CORE_ALIAS = "core"


class CoreLegacyRouter:
    def db_for_read(self, model, **hints):
        if model._meta.app_label == CORE_APP:
            return CORE_ALIAS
        return None

    def db_for_write(self, model, **hints):
        if model._meta.app_label == CORE_APP:
            raise CoreWriteForbidden(
                f"write to core table {model._meta.db_table!r} refused: the payment core is read-only to this "
                "service; send changes through integrations.core_gateway."
            )
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        same_side = (obj1._meta.app_label == CORE_APP) == (obj2._meta.app_label == CORE_APP)
        return same_side or None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if app_label == CORE_APP:
            return False  # the core's schema belongs to the core, never to our migrations
        return db == "default"
