from django.apps import AppConfig


class CoreLegacyConfig(AppConfig):
    name = "core_legacy"
    verbose_name = "Payment core (read-only mirror)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, readonly  # noqa: F401  (registers checks and connection guards)

        readonly.install()
