"""Version-1 templates for every event type of the platform, and the beat jobs
(editable in admin: Periodic tasks)."""

from django.db import migrations

EVENT_TYPES = [
    "payment.initiated", "payment.succeeded", "payment.failed", "payment.aborted", "payment.challan_generated",
    "settlement.settled", "settlement.reconciled", "refund.core_initiated", "refund.core_completed",
    "refund_request.received", "refund.created", "refund.approved", "refund.rejected", "refund.processed",
    "refund.failed", "chargeback.raised", "chargeback.resolved", "fee.reconciliation_completed", "webhook.test",
]  # fmt: skip

JOBS = [
    # (name, task, every seconds)
    ("webhooks: sweep (fan-out + due deliveries)", "enhancements.webhooks.tasks.sweep", 10),
    ("webhooks: maintenance (partitions, retention, auto-disable)", "enhancements.webhooks.tasks.maintain", 3600),
]


def forwards(apps, schema_editor):
    Template = apps.get_model("webhooks", "WebhookTemplate")
    for event_type in EVENT_TYPES:
        Template.objects.get_or_create(event_type=event_type, version=1, defaults={"fields": [], "rename": {}})
    Interval = apps.get_model("django_celery_beat", "IntervalSchedule")
    Task = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, seconds in JOBS:
        interval, _ = Interval.objects.get_or_create(every=seconds, period="seconds")
        Task.objects.update_or_create(name=name, defaults={"task": task, "interval": interval, "enabled": True, "queue": "webhooks"})


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[j[0] for j in JOBS]).delete()


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0002_webhook_logs_partitioned"), ("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [migrations.RunPython(forwards, backwards)]
