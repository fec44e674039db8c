from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "enhancements.webhooks"
    label = "webhooks"
    verbose_name = "Merchant webhooks"
