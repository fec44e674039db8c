from django.apps import AppConfig


class FeesConfig(AppConfig):
    name = "enhancements.fees"
    label = "fees"
    verbose_name = "Fees"
