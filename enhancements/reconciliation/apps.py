from django.apps import AppConfig


class ReconciliationConfig(AppConfig):
    name = "enhancements.reconciliation"
    label = "reconciliation"
    verbose_name = "Reconciliation"
