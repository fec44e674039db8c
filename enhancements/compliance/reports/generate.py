"""Generate a report file from real data, checksum it and log it (compliance_report_log)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from enhancements.regulatory import reporting
from integrations.regulatory_reports.writers import FileSpec, write_report

from ..models import Alert, ReportFormat, ReportLog, ReportType
from ..services import WorkflowError, audit_record
from . import sources


def report_dir() -> Path:
    return Path(getattr(settings, "COMPLIANCE_REPORT_DIR", Path(settings.MEDIA_ROOT) / "compliance"))


def _spec(report_type: str, month_start: dt.date, month_end: dt.date, alert: Alert | None, as_of: dt.date):
    common = {"ReportingEntity": getattr(settings, "COMPLIANCE_REPORTING_ENTITY", "Payment aggregator"),
              "PeriodStart": month_start, "PeriodEnd": month_end - dt.timedelta(days=1)}  # fmt: skip
    if report_type == ReportType.CTR:
        meta = {**common, "Threshold": reporting.CTR_THRESHOLD, "Source": reporting.CTR_SOURCE}
        return FileSpec("CashTransactionReport", "Transaction", sources.CTR_FIELDS, meta), sources.ctr_rows(month_start, month_end)
    if report_type == ReportType.CBWTR:
        meta = {**common, "Threshold": reporting.CBWTR_THRESHOLD, "Source": reporting.CBWTR_SOURCE}
        return FileSpec("CrossBorderWireTransferReport", "Transaction", sources.CBWTR_FIELDS, meta), sources.cbwtr_rows(month_start, month_end)
    if report_type == ReportType.STR:
        return FileSpec("SuspiciousTransactionReport", "Transaction", sources.STR_FIELDS, {**common, **sources.str_meta(alert)}), sources.str_rows(alert)
    if report_type == ReportType.TAT:
        meta = {**common, "AsOf": as_of}
        return FileSpec("TatComplianceReport", "Item", sources.TAT_FIELDS, meta), sources.tat_rows(month_start, month_end, as_of)
    if report_type == ReportType.SUMMARY:
        return FileSpec("ComplianceSummary", "Row", sources.SUMMARY_FIELDS, common), sources.summary_rows(month_start, month_end)
    raise WorkflowError(f"unknown report type {report_type!r}")


@transaction.atomic
def report_generate(*, report_type: str, month: dt.date | None = None, file_format: str = ReportFormat.CSV,
                    actor: AbstractBaseUser | None = None, alert: Alert | None = None,
                    as_of: dt.date | None = None) -> ReportLog:
    """Write one report file and its log row. STR reports take `alert` (marked for STR) instead of a month."""
    if file_format not in ReportFormat.values:
        raise WorkflowError(f"format must be one of {', '.join(ReportFormat.values)}, not {file_format!r}")
    due_on = None
    if report_type == ReportType.STR:
        if alert is None or alert.str_decided_at is None:
            raise WorkflowError("an STR report needs a case that was marked for STR")
        month = timezone.localtime(alert.str_decided_at).date()
        due_on = alert.str_due_on
    elif month is None:
        raise WorkflowError(f"a {report_type} report needs a month")
    month_start, month_end = reporting.month_bounds(month)
    if report_type in (ReportType.CTR, ReportType.CBWTR):
        due_on = reporting.monthly_report_due(month_start)
    as_of = as_of or timezone.localdate()
    spec, rows = _spec(report_type, month_start, month_end, alert, as_of)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
    name = f"{report_type}-{alert.pk if alert else f'{month_start:%Y-%m}'}-{stamp}.{file_format}"
    written = write_report(report_dir() / report_type.lower() / name, file_format, spec, rows)
    log = ReportLog.objects.create(
        report_type=report_type, file_format=file_format, period_start=month_start, period_end=month_end, alert=alert,
        file_path=str(written.path), row_count=written.row_count, sha256=written.sha256, due_on=due_on, generated_by=actor,
    )
    audit_record(object_type="report", object_id=log.pk, action="generated", actor=actor,
                 changes={"rows": written.row_count, "sha256": written.sha256})
    return log


def monthly_reports_generate(*, month: dt.date, actor: AbstractBaseUser | None,
                             formats: tuple[str, ...] = (ReportFormat.CSV, ReportFormat.XML)) -> list[ReportLog]:
    logs = []
    for report_type in (ReportType.CTR, ReportType.CBWTR, ReportType.TAT, ReportType.SUMMARY):
        for file_format in formats:
            logs.append(report_generate(report_type=report_type, month=month, file_format=file_format, actor=actor))
    return logs
