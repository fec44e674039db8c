"""The beat job that polls the core every 10 s (editable in admin: Periodic tasks), and the
feed status rows."""

from django.db import migrations

NAME = "changefeed: poll the core"
TASK = "enhancements.changefeed.tasks.poll"


def forwards(apps, schema_editor):
    Interval = apps.get_model("django_celery_beat", "IntervalSchedule")
    Task = apps.get_model("django_celery_beat", "PeriodicTask")
    interval, _ = Interval.objects.get_or_create(every=10, period="seconds")
    # get_or_create: an operator's later edits (interval, enabled) survive re-running migrations.
    Task.objects.get_or_create(
        name=NAME,
        defaults={
            "task": TASK,
            "interval": interval,
            "enabled": True,
            "description": "Poll transaction_detail and refund_request_from_client for lifecycle changes",
        },
    )


    # The status rows, so operators see (and can tune) the feed before its first poll.
    State = apps.get_model("changefeed", "FeedState")
    for source in ("transaction_detail", "refund_request_from_client"):
        State.objects.get_or_create(source=source)


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("changefeed", "0001_initial"), ("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [migrations.RunPython(forwards, backwards)]
