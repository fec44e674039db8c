"""Staging lines partitioned by file, results partitioned by run (docs/reconciliation.md, "Storage").

An import writes its file's lines into a table of their own, created and filled by one
statement with no index to maintain, then attached as the file's partition; a run writes its
pairs the same way into the run's partition, and a re-run replaces that partition instead of
deleting a million rows. Rows already stored are moved into one partition per file / run.

Staging ids are now computed, not drawn from a sequence: file id * 2^32 + line number
(enhancements.reconciliation.storage.entry_id), so both import paths give the same ids
without a sequence call per line. Ids of lines imported before this migration keep their values
(sequence values, far below 2^32), so results and mismatches that name them stay valid.
"""

from django.db import migrations, models

ENTRY_COLUMNS = """
    id bigint NOT NULL,
    file_id bigint NOT NULL,
    line_no integer NOT NULL,
    txn_id varchar(100),
    bank_txn_id varchar(100),
    pg_txn_id varchar(100),
    client_txn_id varchar(100),
    settlement_utr varchar(100),
    amount numeric(14, 2) NOT NULL,
    fee numeric(14, 2),
    tax numeric(14, 2),
    net numeric(14, 2) NOT NULL,
    has_fee_info boolean NOT NULL,
    txn_date date,
    status varchar(16),
    payment_mode varchar(100)"""

RESULT_COLUMNS = """
    id bigint NOT NULL,
    run_id bigint NOT NULL,
    entry_id bigint NOT NULL,
    line_no integer NOT NULL,
    txn_id varchar(64) NOT NULL,
    trans_date timestamptz NOT NULL,
    client_id integer,
    client_code varchar(64),
    rule_id bigint,
    outcome varchar(12) NOT NULL,
    mismatch_type varchar(20),
    file_amount numeric(14, 2) NOT NULL,
    core_amount numeric(14, 2),
    file_net numeric(14, 2),
    expected_net numeric(14, 2)"""


def _partitioned(table: str, key: str, columns: str, prefix: str) -> str:
    names = ", ".join(line.split()[0] for line in columns.strip().splitlines())
    return f"""
    ALTER TABLE {table} RENAME TO {table}_unpartitioned;
    CREATE TABLE {table} ({columns}) PARTITION BY LIST ({key});
    DO $$
    DECLARE k bigint;
    BEGIN
        FOR k IN SELECT DISTINCT {key} FROM {table}_unpartitioned LOOP
            EXECUTE format('CREATE TABLE %I PARTITION OF {table} FOR VALUES IN (%s)', '{prefix}' || k, k);
        END LOOP;
    END $$;
    INSERT INTO {table} ({names}) SELECT {names} FROM {table}_unpartitioned;
    DROP TABLE {table}_unpartitioned;
    """


FORWARD = (
    _partitioned("reconciliation_entries", "file_id", ENTRY_COLUMNS, "reconciliation_entries_f")
    + _partitioned("transaction_recon_table", "run_id", RESULT_COLUMNS, "transaction_recon_table_r")
    + """
    -- Result ids for rows written through the ORM (runs draw theirs from it in bulk).
    CREATE SEQUENCE transaction_recon_table_id_seq OWNED BY transaction_recon_table.id;
    SELECT setval('transaction_recon_table_id_seq', coalesce((SELECT max(id) FROM transaction_recon_table), 0) + 1, false);
    ALTER TABLE transaction_recon_table ALTER COLUMN id SET DEFAULT nextval('transaction_recon_table_id_seq');
    """
)


class Migration(migrations.Migration):
    dependencies = [("reconciliation", "0003_drop_result_txn_index")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(FORWARD)],
            state_operations=[
                migrations.RemoveConstraint(model_name="settlemententry", name="recon_entry_line_once"),
                migrations.AlterField(
                    model_name="settlemententry", name="id", field=models.BigIntegerField(primary_key=True, serialize=False)
                ),
                migrations.RemoveIndex(model_name="reconresult", name="recon_result_run_entry"),
            ],
        )
    ]
