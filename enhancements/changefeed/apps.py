from django.apps import AppConfig


class ChangefeedConfig(AppConfig):
    name = "enhancements.changefeed"
    label = "changefeed"
    verbose_name = "Core change feed"
