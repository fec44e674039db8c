from django.apps import AppConfig


class RefundsConfig(AppConfig):
    name = "enhancements.refunds"
    label = "refunds"
    verbose_name = "Refunds"
