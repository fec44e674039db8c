from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "enhancements.compliance"
    label = "compliance"
    verbose_name = "Compliance"
