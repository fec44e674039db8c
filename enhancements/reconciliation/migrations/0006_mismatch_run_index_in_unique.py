"""A mismatch's run has no index of its own: the unique (run, fingerprint) index leads with it.

Only the index is dropped (concurrently: writers go on). Altering the field in the database
would drop and re-add the foreign key too, checking every mismatch under a lock."""

import django.db.models.deletion
from django.db import migrations, models

INDEX = "reconciliation_mismatches_run_id_7c88b11e"  # Django's name for the field's index (0001)


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY runs outside a transaction

    dependencies = [
        ("reconciliation", "0005_file_carried_references"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="mismatch",
                    name="run",
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE,
                                            related_name="mismatches", to="reconciliation.reconciliationrun"),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}",
                    reverse_sql=f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON reconciliation_mismatches (run_id)",
                ),
            ],
        ),
    ]
