"""Run the windowed compliance rules over one month: manage.py compliance_scan --month 2026-10"""

import datetime as dt
import sys

from django.core.management.base import BaseCommand, CommandError

from enhancements.compliance.rules.scan import scan_month


class Command(BaseCommand):
    help = "Run every enabled windowed rule over a calendar month (progress on stderr)."

    def add_arguments(self, parser):
        parser.add_argument("--month", required=True, help="YYYY-MM")
        parser.add_argument("--client-code", action="append", dest="client_codes", help="only these merchants (repeatable)")

    def handle(self, *args, month, client_codes, **options):
        try:
            first = dt.datetime.strptime(month, "%Y-%m").date()
        except ValueError:
            raise CommandError(f"--month must look like 2026-10, not {month!r}") from None
        result = scan_month(month=first, client_codes=client_codes, progress=lambda m: print(m, file=sys.stderr))
        self.stdout.write(f"{result.month:%Y-%m}: {result.staged_rows:,} payments scanned, "
                          f"{sum(result.created.values())} new alerts, {sum(result.refreshed.values())} refreshed")
