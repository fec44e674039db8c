from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "enhancements.compliance"
    label = "compliance"
    verbose_name = "Compliance"

    def ready(self) -> None:
        from enhancements.events.registry import register_consumer
        from enhancements.events.signals import deliveries_created

        from .rules.realtime import CONSUMER, PATTERNS

        register_consumer(CONSUMER, PATTERNS)
        deliveries_created.connect(_kick_consumer, dispatch_uid="compliance-consumer")


def _kick_consumer(sender, consumers, **kwargs) -> None:
    from .rules.realtime import CONSUMER

    if CONSUMER in consumers:
        from .tasks import compliance_consume_events

        try:
            compliance_consume_events.delay()
        except Exception:  # noqa: BLE001 - a broker outage only delays work: the beat sweep catches up
            import logging

            logging.getLogger(__name__).warning("compliance: could not enqueue the consumer; the sweep will run it")
