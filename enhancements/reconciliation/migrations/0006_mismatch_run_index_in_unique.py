"""A mismatch's run has no index of its own: the unique (run, fingerprint) index leads with it."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reconciliation", "0005_file_carried_references"),
    ]

    operations = [
        migrations.AlterField(
            model_name="mismatch",
            name="run",
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE,
                                    related_name="mismatches", to="reconciliation.reconciliationrun"),
        ),
    ]
