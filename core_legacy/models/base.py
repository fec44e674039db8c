"""Base for every unmanaged core model: reads only, writes fail loudly.

Three locks stand between application code and a core write: this queryset and model
(clear error before any SQL), the router (`db_for_write` refuses), and the `core`
connection itself (read-only session; in production also a SELECT-only role).
"""

from __future__ import annotations

from django.db import models

from ..errors import CoreWriteForbidden

CORE_ALIAS = "core"


def _refuse(action: str, model: type[models.Model]) -> None:
    raise CoreWriteForbidden(
        f"{action} on core table {model._meta.db_table!r} refused: the payment core is read-only to this "
        "service; send changes through integrations.core_gateway."
    )


class ReadOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        _refuse("UPDATE", self.model)

    def delete(self):
        _refuse("DELETE", self.model)

    def _raw_delete(self, using):
        _refuse("DELETE", self.model)

    def create(self, **kwargs):
        _refuse("INSERT", self.model)

    def bulk_create(self, objs, *args, **kwargs):
        _refuse("INSERT", self.model)

    def bulk_update(self, objs, fields, batch_size=None):
        _refuse("UPDATE", self.model)

    def get_or_create(self, defaults=None, **kwargs):
        _refuse("INSERT", self.model)

    def update_or_create(self, defaults=None, create_defaults=None, **kwargs):
        _refuse("UPDATE", self.model)

    update.alters_data = delete.alters_data = True  # type: ignore[attr-defined]


class ReadOnlyManager(models.Manager.from_queryset(ReadOnlyQuerySet)):
    def get_queryset(self):
        return super().get_queryset().using(CORE_ALIAS)


class LegacyModel(models.Model):
    objects = ReadOnlyManager()

    class Meta:
        abstract = True
        managed = False
        default_permissions = ("view",)

    def save(self, *args, **kwargs):
        _refuse("UPDATE" if self._state.adding is False else "INSERT", type(self))

    def delete(self, *args, **kwargs):
        _refuse("DELETE", type(self))
