from celery.signals import celeryd_after_setup
from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "enhancements.webhooks"
    label = "webhooks"
    verbose_name = "Merchant webhooks"

    def ready(self) -> None:
        from enhancements.events.registry import register_consumer
        from enhancements.events.signals import deliveries_created

        from . import kicks

        # Every event type: which merchant endpoint wants it is decided at fan-out.
        register_consumer("webhooks", ["*"])
        deliveries_created.connect(kicks.on_outbox_deliveries, dispatch_uid="webhooks-fanout-kick")
        celeryd_after_setup.connect(_consume_webhooks_queue, dispatch_uid="webhooks-queue")


def _consume_webhooks_queue(sender, instance, **kwargs) -> None:
    """Every worker also consumes the `webhooks` queue (a worker started with -Q webhooks
    consumes only it)."""
    from .tasks import QUEUE

    instance.app.amqp.queues.select_add(QUEUE)
