from django.apps import AppConfig
from django.conf import settings

# The feed's own consumer: an audit log of every feed event (consume_events prints it).
# Off unless CHANGEFEED_AUDIT_CONSUMER is set: a registered consumer nobody drains would
# collect a pending delivery for every event.
AUDIT_CONSUMER = "changefeed-audit"


class ChangefeedConfig(AppConfig):
    name = "enhancements.changefeed"
    label = "changefeed"
    verbose_name = "Core change feed"

    def ready(self) -> None:
        if getattr(settings, "CHANGEFEED_AUDIT_CONSUMER", False):
            from enhancements.events.registry import register_consumer

            from .derive import FEED_EVENT_TYPES

            register_consumer(AUDIT_CONSUMER, list(FEED_EVENT_TYPES))
