from django.apps import AppConfig


class RefundsConfig(AppConfig):
    name = "enhancements.refunds"
    label = "refunds"
    verbose_name = "Refunds"

    def ready(self) -> None:
        from enhancements.events.registry import register_consumer
        from enhancements.events.signals import deliveries_created

        from .intake import CONSUMER, EVENT_TYPES

        register_consumer(CONSUMER, EVENT_TYPES)
        deliveries_created.connect(_kick_intake, dispatch_uid="refunds-intake")


def _kick_intake(sender, consumers, **kwargs) -> None:
    from .intake import CONSUMER

    if CONSUMER in consumers:
        from .tasks import enqueue, intake_task

        enqueue(intake_task)
