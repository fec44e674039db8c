"""Built-in column-mapping profiles, a default rule set, and the daily beat job."""

import dataclasses

from django.db import migrations

TASK_NAME = "reconciliation: reconcile previous day's files"

DEFAULT_RULES = [
    # (priority, name, kind, reference, sources)
    (10, "split lines of one transaction (txn_id)", "many_to_one", "txn_id", []),
    (20, "exact txn_id", "one_to_one", "txn_id", []),
    (30, "exact gateway reference (pg_txn_id)", "one_to_one", "pg_txn_id", []),
    (40, "exact bank reference (bank_txn_id)", "one_to_one", "bank_txn_id", []),
    (50, "exact merchant order id (client_txn_id)", "one_to_one", "client_txn_id", []),
    (60, "bank credit settling a UTR batch", "one_to_many", "settlement_utr", ["bank"]),
]


def forwards(apps, schema_editor):
    from integrations.settlement_files.profiles import BUILTIN_PROFILES

    Profile = apps.get_model("reconciliation", "MappingProfileRecord")
    for profile in BUILTIN_PROFILES.values():
        values = dataclasses.asdict(profile)
        values["columns"] = dict(values["columns"])
        values["status_map"] = dict(values["status_map"])
        values["date_formats"] = list(values["date_formats"])
        Profile.objects.update_or_create(name=values.pop("name"), defaults=values)
    Rule = apps.get_model("reconciliation", "ReconciliationRule")
    for priority, name, kind, reference, sources in DEFAULT_RULES:
        Rule.objects.get_or_create(
            name=name,
            defaults={"priority": priority, "kind": kind, "reference": reference, "sources": sources,
                      "date_drift_days": 2, "amount_tolerance_abs": "0.00"},  # fmt: skip
        )
    Crontab = apps.get_model("django_celery_beat", "CrontabSchedule")
    Task = apps.get_model("django_celery_beat", "PeriodicTask")
    schedule, _ = Crontab.objects.get_or_create(
        minute="30", hour="6", day_of_week="*", day_of_month="*", month_of_year="*", timezone="Asia/Kolkata"
    )
    Task.objects.update_or_create(
        name=TASK_NAME,
        defaults={"task": "reconciliation.reconcile_previous_day", "crontab": schedule, "enabled": True,
                  "description": "Reconciles yesterday's imported settlement files (06:30 India time)."},  # fmt: skip
    )


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("reconciliation", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
