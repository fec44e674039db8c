"""Beat jobs (editable in the admin): monthly fee reconciliation, daily log partitions."""

from django.db import migrations

JOBS = [
    # name, task, crontab (minute, hour, day_of_month) in CELERY_TIMEZONE (India)
    ("fees: reconcile previous month", "fees.reconcile_previous_month", ("30", "3", "1")),
    ("fees: calculation log partitions", "fees.maintain_log_partitions", ("15", "2", "*")),
]


def create_jobs(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, (minute, hour, day) in JOBS:
        schedule, _ = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_month=day, month_of_year="*", day_of_week="*", timezone="Asia/Kolkata"
        )
        PeriodicTask.objects.update_or_create(name=name, defaults={"task": task, "crontab": schedule, "enabled": True})


def remove_jobs(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[j[0] for j in JOBS]).delete()


class Migration(migrations.Migration):
    dependencies = [("fees", "0002_log_partitions_and_no_overlap"), ("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [migrations.RunPython(create_jobs, remove_jobs)]
