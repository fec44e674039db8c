"""Import a settlement/bank file from disk (progress on stderr), optionally reconcile it."""

from __future__ import annotations

import datetime as dt
import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from integrations.settlement_files import SettlementFileError


class Command(BaseCommand):
    help = "Import a settlement file with a saved mapping profile; --reconcile runs the rules on it."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--profile", required=True, help="name of a saved column-mapping profile")
        parser.add_argument("--bad-rows", choices=["quarantine", "all_or_nothing"], default="quarantine")
        parser.add_argument("--user", help="username recorded as the uploader")
        parser.add_argument("--reconcile", action="store_true", help="reconcile the file after importing it")
        parser.add_argument("--dry-run", action="store_true", help="with --reconcile: show what would match, keep nothing")
        parser.add_argument("--window", nargs=2, metavar=("FIRST", "LAST"), help="India dates, for files without dates")

    def handle(self, *args, **options):
        from enhancements.reconciliation.models import MappingProfileRecord
        from enhancements.reconciliation.services import (
            DuplicateFileError,
            ReconciliationError,
            RejectedFileError,
            reconciliation_run_create,
            reconciliation_run_execute,
            settlement_file_import,
        )

        try:
            profile = MappingProfileRecord.objects.get(name=options["profile"])
        except MappingProfileRecord.DoesNotExist:
            names = ", ".join(MappingProfileRecord.objects.order_by("name").values_list("name", flat=True))
            raise CommandError(f"no profile {options['profile']!r}; saved profiles: {names}") from None
        user = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"no user {options['user']!r}")
        window = None
        if options["window"]:
            try:
                window = tuple(dt.date.fromisoformat(d) for d in options["window"])
            except ValueError as exc:
                raise CommandError(f"--window takes two dates YYYY-MM-DD: {exc}") from None
        progress = lambda message: self.stderr.write(message)  # noqa: E731
        try:
            with open(options["path"], "rb") as handle:
                record = settlement_file_import(stream=handle, original_name=options["path"].rsplit("/", 1)[-1],
                                                profile=profile, uploaded_by=user, bad_rows=options["bad_rows"],
                                                progress=progress)  # fmt: skip
        except OSError as exc:
            raise CommandError(f"cannot read {options['path']}: {exc.strerror}") from None
        except (DuplicateFileError, RejectedFileError, SettlementFileError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"file #{record.pk}: {record.rows_imported} imported, {record.rows_quarantined} quarantined")
        if options["reconcile"]:
            try:
                run = reconciliation_run_create(file=record, started_by=user, dry_run=options["dry_run"])
                run = reconciliation_run_execute(run=run, window=window)
            except ReconciliationError as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(json.dumps(run.summary, indent=1))
