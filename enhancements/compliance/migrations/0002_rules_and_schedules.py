"""Default rule rows and the beat schedules (django_celery_beat rows, editable in admin)."""

import json

from django.db import migrations

# (name, task, crontab minute, hour, day_of_month, kwargs)
SCHEDULES = [
    ("compliance: consume change-feed events (sweep)", "compliance.consume_events", "*", "*", "*"),
    ("compliance: scan current month (windowed rules)", "compliance.scan_month", "15", "*", "*"),
    ("compliance: close previous month's windows", "compliance.scan_previous_month", "30", "2", "1,2,3"),
    ("compliance: re-KYC due alerts", "compliance.kyc_scan", "0", "6", "*"),
    ("compliance: monthly CTR / CBWTR / TAT / summary", "compliance.monthly_reports", "0", "5", "4"),
]


def install(apps, schema_editor):
    from enhancements.compliance.rules.catalogue import rules_install

    rules_install(apps)
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, minute, hour, day in SCHEDULES:
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_month=day, month_of_year="*", day_of_week="*", timezone="Asia/Kolkata"
        )
        PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, "crontab": crontab, "kwargs": json.dumps({})})


def uninstall(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()
    apps.get_model("compliance", "Rule").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
