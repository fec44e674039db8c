"""Generate a compliance report file and log it:

    manage.py compliance_report CTR --month 2026-10 --format xml
    manage.py compliance_report STR --alert 42 --format json
"""

import datetime as dt
import sys

from django.core.management.base import BaseCommand, CommandError

from enhancements.compliance.models import Alert, ReportFormat, ReportType
from enhancements.compliance.reports.generate import report_generate
from enhancements.compliance.services import WorkflowError


class Command(BaseCommand):
    help = "Generate one report (CTR, CBWTR, STR, TAT, SUMMARY) as CSV, JSON or XML."

    def add_arguments(self, parser):
        parser.add_argument("report_type", choices=ReportType.values)
        parser.add_argument("--month", help="YYYY-MM (all but STR)")
        parser.add_argument("--alert", type=int, help="case id (STR)")
        parser.add_argument("--format", default="csv", choices=ReportFormat.values)

    def handle(self, *args, report_type, month, alert, format, **options):
        first = alert_obj = None
        if month:
            try:
                first = dt.datetime.strptime(month, "%Y-%m").date()
            except ValueError:
                raise CommandError(f"--month must look like 2026-10, not {month!r}") from None
        if alert is not None:
            alert_obj = Alert.objects.filter(pk=alert).first()
            if alert_obj is None:
                raise CommandError(f"alert {alert} does not exist")
        print(f"generating {report_type} ({format})...", file=sys.stderr)
        try:
            log = report_generate(report_type=report_type, month=first, file_format=format, alert=alert_obj)
        except WorkflowError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{log.file_path}: {log.row_count:,} rows, sha256 {log.sha256}, due {log.due_on or '-'}")
