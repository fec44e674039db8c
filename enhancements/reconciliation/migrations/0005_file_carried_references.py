"""The reference fields a file's lines may carry, recorded at import (SettlementFile.carried_references).
Files imported before keep NULL: their runs read the lines instead."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reconciliation", "0004_partition_entries_and_results"),
    ]

    operations = [
        migrations.AddField(
            model_name="settlementfile",
            name="carried_references",
            field=models.JSONField(blank=True, editable=False, null=True),
        ),
    ]
