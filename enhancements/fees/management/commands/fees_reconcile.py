"""On-demand fee reconciliation: manage.py fees_reconcile --month 2026-10 [--client-id 12 ...]"""

from __future__ import annotations

import datetime as dt
import time

from django.core.management.base import BaseCommand, CommandError

from enhancements.fees.reconciliation import fee_reconciliation_run, month_period
from enhancements.fees.validation import FeeValidationError


class Command(BaseCommand):
    help = "Reconcile charged fees with the configuration for one India calendar month."

    def add_arguments(self, parser):
        parser.add_argument("--month", required=True, help="YYYY-MM")
        parser.add_argument("--client-id", type=int, action="append", dest="client_ids", help="repeatable; default all")
        parser.add_argument("--requested-by", default="manage.py")

    def handle(self, *args, month, client_ids, requested_by, **options):
        try:
            first = dt.datetime.strptime(month, "%Y-%m").date()
        except ValueError as exc:
            raise CommandError(f"--month must look like 2026-10, got {month!r}") from exc
        start, end = month_period(first)
        self.stderr.write(f"reconciling {start}..{end} for {'all merchants' if not client_ids else client_ids} ...")
        began = time.perf_counter()
        try:
            recs = fee_reconciliation_run(period_start=start, period_end=end, client_ids=client_ids, requested_by=requested_by)
        except FeeValidationError as exc:
            raise CommandError(str(exc)) from exc
        self.stderr.write(f"done in {time.perf_counter() - began:.1f}s")
        for r in recs:
            self.stdout.write(f"{r.client_id}\t{r.client_code}\t{r.status}\t{r.txn_count}\tcharged {r.charged_fee}"
                              f"\texpected {r.expected_fee}\tvariance {r.fee_variance}\tdiscrepancies {r.discrepancy_count}")
