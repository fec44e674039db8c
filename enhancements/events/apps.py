from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "enhancements.events"
    label = "events"
    verbose_name = "Domain events (outbox)"
