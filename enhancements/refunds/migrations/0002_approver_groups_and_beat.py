"""Approver groups (one per level) with their permissions, and the refunds beat jobs.

Groups are the way operators get approval rights: put a staff user in
"Refund approvers L1" / "Refund approvers L2" / "Refund finance approvers".
Beat jobs are editable in admin (Periodic tasks); get_or_create keeps operator edits.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from enhancements.refunds.permissions import GROUPS, ensure_groups

JOBS = [
    ("refunds: status enquiry for unknown outcomes", "refunds.resolve_unknown", 60),
    ("refunds: intake of core refund requests", "refunds.intake", 60),
    ("refunds: execute approved refunds (sweep)", "refunds.execute_approved_sweep", 300),
]


def forwards(apps, schema_editor):
    # Permissions are normally created after all migrations; approver groups need them now.
    app_config = apps.get_app_config("refunds")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    ensure_groups(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))
    Interval = apps.get_model("django_celery_beat", "IntervalSchedule")
    Task = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, seconds in JOBS:
        interval, _ = Interval.objects.get_or_create(every=seconds, period="seconds")
        Task.objects.get_or_create(name=name, defaults={"task": task, "interval": interval, "enabled": True})


def backwards(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[j[0] for j in JOBS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("refunds", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
