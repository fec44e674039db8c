"""Re-KYC alerts from the merchant KYC records: before the due date and at/after it."""

from __future__ import annotations

import dataclasses
import datetime as dt

from django.db import connection, transaction

from enhancements.regulatory import kyc as kyc_rules

from ..models import MerchantKyc, Rule, RuleCode
from ..services import kyc_expire_overdue
from .sqlbits import aware_sql
from .scan import upsert_candidates


@dataclasses.dataclass
class KycScanResult:
    due_soon: int
    due: int
    expired: int


def _candidates(code: str, where: str) -> str:
    return f"""
        SELECT '{code}', 'MERCHANT', k.client_id::text, k.client_code, 'due@' || k.next_review_due::text,
               {aware_sql('k.last_review_on::timestamp')}, {aware_sql('k.next_review_due::timestamp')},
               k.client_id, k.client_code, NULL::numeric, NULL::int,
               'periodic re-KYC due ' || k.next_review_due::text || ' (' || k.risk_level || ' risk)',
               jsonb_build_object('kyc_status', k.status, 'risk_level', k.risk_level,
                                  'last_review_on', k.last_review_on::text, 'next_review_due', k.next_review_due::text)
        FROM {MerchantKyc._meta.db_table} k
        WHERE k.next_review_due IS NOT NULL AND {where}"""


@transaction.atomic
def kyc_scan(*, today: dt.date) -> KycScanResult:
    rules = {r.code: r for r in Rule.objects.filter(enabled=True, code__in=[RuleCode.REKYC_DUE_SOON, RuleCode.REKYC_DUE])}
    due_soon = due = 0
    with connection.cursor() as cursor:
        if (r := rules.get(RuleCode.REKYC_DUE_SOON)) is not None:
            days = int(r.params.get("days_before", kyc_rules.REMINDER_DAYS_BEFORE))
            due_soon, _ = upsert_candidates(
                cursor, _candidates(RuleCode.REKYC_DUE_SOON, "k.status = 'APPROVED' AND k.next_review_due > %(today)s "
                                    "AND k.next_review_due <= %(today)s::date + %(days)s"),
                {"today": today, "days": days}, refresh=False)
        if RuleCode.REKYC_DUE in rules:
            due, _ = upsert_candidates(
                cursor, _candidates(RuleCode.REKYC_DUE, "k.status IN ('APPROVED', 'EXPIRED') AND k.next_review_due <= %(today)s"),
                {"today": today}, refresh=False)
    expired = kyc_expire_overdue(today=today)
    return KycScanResult(due_soon, due, expired)
