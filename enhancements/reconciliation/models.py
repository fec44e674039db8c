"""Reconciliation: imported settlement files, their staged lines, rules, runs, results and
the mismatch workflow. Core rows are referenced by txn_id/trans_date only (no FKs)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from integrations.settlement_files.profiles import AMOUNT_UNITS, FORMATS, REFERENCE_FIELDS

REFERENCE_CHOICES = [(f, f) for f in REFERENCE_FIELDS]


class MappingProfileRecord(models.Model):
    """A saved column-mapping profile (one per source and file shape), editable in admin."""

    name = models.SlugField(max_length=64, unique=True)
    source = models.CharField(max_length=64, help_text="which bank/gateway sends such files; rules filter on it")
    file_format = models.CharField(max_length=8, choices=[(f, f) for f in FORMATS])
    columns = models.JSONField(default=dict, blank=True, help_text='canonical field -> header, e.g. {"txn_id": "Order Id"}')
    delimiter = models.CharField(max_length=1, default=",")
    encoding = models.CharField(max_length=32, default="utf-8")
    date_formats = models.JSONField(default=list, help_text='strptime formats, e.g. ["%d/%m/%Y"]')
    amount_unit = models.CharField(max_length=8, choices=[(u, u) for u in AMOUNT_UNITS], default="rupees")
    fee_includes_gst = models.BooleanField(default=True, help_text="True: net = amount - fee; False: net = amount - fee - tax")
    status_map = models.JSONField(default=dict, blank=True, help_text='extra status words, e.g. {"captured": "SUCCESS"}')
    mt940_reference_field = models.CharField(max_length=32, choices=REFERENCE_CHOICES, default="settlement_utr")

    class Meta:
        db_table = "reconciliation_mapping_profiles"

    def __str__(self) -> str:
        return f"{self.name} ({self.file_format}, {self.source})"


class SettlementFile(models.Model):
    class Status(models.TextChoices):
        IMPORTING = "importing"
        IMPORTED = "imported"
        REJECTED = "rejected"  # all-or-nothing import with bad rows, or unreadable file

    class BadRows(models.TextChoices):
        QUARANTINE = "quarantine", "import good rows, quarantine bad ones"
        ALL_OR_NOTHING = "all_or_nothing", "import nothing if any row is bad"

    profile = models.ForeignKey(MappingProfileRecord, on_delete=models.PROTECT, related_name="files")
    source = models.CharField(max_length=64)
    original_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64, db_index=True)
    size_bytes = models.BigIntegerField()
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IMPORTING)
    bad_rows = models.CharField(max_length=16, choices=BadRows.choices, default=BadRows.QUARANTINE)
    rows_read = models.IntegerField(default=0)
    rows_imported = models.IntegerField(default=0)
    rows_quarantined = models.IntegerField(default=0)
    rows_skipped = models.IntegerField(default=0)
    first_date = models.DateField(null=True, blank=True)
    last_date = models.DateField(null=True, blank=True)
    # The reference fields (txn_id, utr...) some imported line may carry: a superset, found by
    # the import's own passes, so that a run need not read the lines to skip the rules on the
    # others. NULL: imported before it was recorded (the run then reads the lines).
    carried_references = models.JSONField(null=True, blank=True, editable=False)
    error = models.TextField(blank=True, default="")

    class Meta:
        db_table = "reconciliation_files"
        constraints = [
            # The same bytes are imported once; a rejected attempt does not block a retry.
            models.UniqueConstraint(fields=["sha256"], condition=models.Q(status__in=["importing", "imported"]),
                                    name="recon_file_imported_once"),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.original_name} ({self.sha256[:10]}…)"


class SettlementEntry(models.Model):
    """One staged file line. Amounts in rupees, exact to the paisa.

    The table is partitioned by file (migration 0004): each import writes its lines into a
    partition of their own with one statement (storage.py). The id is computed from the file
    and the line number (storage.entry_id), which is also what makes it unique."""

    id = models.BigIntegerField(primary_key=True)
    file = models.ForeignKey(SettlementFile, on_delete=models.CASCADE, related_name="entries", db_index=False,
                             db_constraint=False)  # written in bulk, as ReconResult.run
    line_no = models.IntegerField()
    txn_id = models.CharField(max_length=100, null=True)
    bank_txn_id = models.CharField(max_length=100, null=True)
    pg_txn_id = models.CharField(max_length=100, null=True)
    client_txn_id = models.CharField(max_length=100, null=True)
    settlement_utr = models.CharField(max_length=100, null=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    fee = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    tax = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    net = models.DecimalField(max_digits=14, decimal_places=2)
    has_fee_info = models.BooleanField()
    txn_date = models.DateField(null=True, help_text="India calendar date as written in the file")
    status = models.CharField(max_length=16, null=True, help_text="SUCCESS / FAILED / empty (a settled line)")
    payment_mode = models.CharField(max_length=100, null=True)

    class Meta:
        db_table = "reconciliation_entries"


class QuarantinedRow(models.Model):
    file = models.ForeignKey(SettlementFile, on_delete=models.CASCADE, related_name="quarantined")
    line_no = models.IntegerField()
    raw = models.TextField()
    errors = models.TextField()

    class Meta:
        db_table = "reconciliation_quarantined_rows"
        ordering = ["file", "line_no"]


class ReconciliationRule(models.Model):
    class Kind(models.TextChoices):
        ONE_TO_ONE = "one_to_one", "one file line = one transaction"
        ONE_TO_MANY = "one_to_many", "one file line settles several transactions (sum of expected net)"
        MANY_TO_ONE = "many_to_one", "several file lines settle one transaction (sum of amounts)"

    name = models.CharField(max_length=100, unique=True)
    priority = models.PositiveIntegerField(help_text="lower runs first; the first rule that matches wins")
    active = models.BooleanField(default=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.ONE_TO_ONE)
    reference = models.CharField(max_length=32, choices=REFERENCE_CHOICES, help_text="file column = core column")
    amount_tolerance_abs = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    amount_tolerance_pct = models.DecimalField(max_digits=6, decimal_places=3, default=0)
    date_drift_days = models.PositiveIntegerField(default=1)
    fee_tolerance_abs = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    sources = models.JSONField(default=list, blank=True, help_text="file sources this rule applies to; empty = all")
    payment_modes = models.JSONField(default=list, blank=True, help_text="core payment_mode names; empty = all")

    class Meta:
        db_table = "reconciliation_rules"
        ordering = ["priority", "id"]
        constraints = [models.UniqueConstraint(fields=["priority"], name="recon_rule_priority_unique")]

    def __str__(self) -> str:
        return f"#{self.priority} {self.name}"


class ReconciliationRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    file = models.ForeignKey(SettlementFile, on_delete=models.PROTECT, related_name="runs")
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="how many times this run was executed")
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        db_table = "reconciliation_runs"
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.file}{' (dry run)' if self.dry_run else ''}"


class ReconResult(models.Model):
    """One pairing of a file line with a core transaction (the enhancement's recon table).

    Partitioned by run (migration 0004): a run's first execution writes its pairs straight into
    its own partition (itself partitioned by rule); a re-run replaces that partition's rows
    (storage.py)."""

    class Outcome(models.TextChoices):
        MATCHED = "MATCHED"
        MISMATCHED = "MISMATCHED"

    id = models.BigAutoField(primary_key=True)
    # No database-level FK checks: a run writes up to millions of these rows in one statement,
    # and deferred per-row FK triggers would cost more than the matching itself.
    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="results", db_index=False,
                            db_constraint=False)
    entry_id = models.BigIntegerField()
    line_no = models.IntegerField()
    txn_id = models.CharField(max_length=64)
    trans_date = models.DateTimeField(help_text="the core's trans_date (its key), stored as UTC")
    client_id = models.IntegerField(null=True)
    client_code = models.CharField(max_length=64, null=True)
    rule = models.ForeignKey(ReconciliationRule, null=True, on_delete=models.SET_NULL, related_name="+", db_index=False,
                             db_constraint=False)
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    mismatch_type = models.CharField(max_length=20, null=True, choices=[(t, t) for t in ("AMOUNT", "DATE", "STATUS", "FEE")])
    file_amount = models.DecimalField(max_digits=14, decimal_places=2)
    core_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    file_net = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    expected_net = models.DecimalField(max_digits=14, decimal_places=2, null=True)

    class Meta:
        db_table = "transaction_recon_table"
        # No index: a run's rows are read as its whole partition (by the run's own joins, and
        # by later readers, who select a run, which picks its partition).


class Mismatch(models.Model):
    class Type(models.TextChoices):
        AMOUNT = "AMOUNT"
        DATE = "DATE"
        MISSING_IN_BANK = "MISSING_IN_BANK"
        MISSING_IN_SYSTEM = "MISSING_IN_SYSTEM"
        DUPLICATE = "DUPLICATE"
        STATUS = "STATUS"
        FEE = "FEE"

    class State(models.TextChoices):
        OPEN = "OPEN"
        RESOLVED = "RESOLVED"

    class Resolution(models.TextChoices):
        WRITE_OFF = "write_off", "write-off"
        ADJUSTED = "adjusted", "adjusted"
        FALSE_ALARM = "false_alarm", "false alarm"
        RAISED_WITH_BANK = "raised_with_bank", "raised with bank"
        CLEARED_ON_RERUN = "cleared_on_rerun", "cleared by a re-run"

    # No index of its own: the unique (run, fingerprint) index leads with the run, and serves
    # reading a run's mismatches as well; one index fewer for each of a run's inserts.
    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="mismatches", db_index=False)
    fingerprint = models.CharField(max_length=200, help_text="stable identity within the run (re-runs upsert on it)")
    type = models.CharField(max_length=20, choices=Type.choices)
    entry_id = models.BigIntegerField(null=True, blank=True)
    line_no = models.IntegerField(null=True, blank=True)
    txn_id = models.CharField(max_length=64, null=True, blank=True)
    client_id = models.IntegerField(null=True, blank=True)
    client_code = models.CharField(max_length=64, null=True, blank=True)
    rule = models.ForeignKey(ReconciliationRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    amount = models.DecimalField(max_digits=14, decimal_places=2, help_text="money at stake")
    file_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    core_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    detail = models.TextField(blank=True, default="")
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    assigned_to = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    resolution = models.CharField(max_length=20, choices=Resolution.choices, blank=True, default="")
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "reconciliation_mismatches"
        ordering = ["-created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["run", "fingerprint"], name="recon_mismatch_once_per_run")]
        indexes = [models.Index(fields=["state", "type", "created_at"], name="recon_mismatch_state_type")]

    def __str__(self) -> str:
        return f"{self.type} {self.txn_id or f'line {self.line_no}'}"


class MismatchEvent(models.Model):
    """The mismatch's history: every assignment, comment, resolution and re-run change."""

    class Action(models.TextChoices):
        ASSIGNED = "assigned"
        COMMENTED = "commented"
        RESOLVED = "resolved"
        REOPENED = "reopened"
        RERUN_UPDATED = "rerun_updated"

    mismatch = models.ForeignKey(Mismatch, on_delete=models.CASCADE, related_name="history")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=16, choices=Action.choices)
    comment = models.TextField(blank=True, default="")
    changes = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField()

    class Meta:
        db_table = "reconciliation_mismatch_history"
        ordering = ["at", "id"]
