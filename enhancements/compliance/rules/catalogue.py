"""The default configuration of every rule, with its rationale and source.

Loaded into compliance_rules by a data migration; operators tune the rows in admin afterwards.
Statutory figures come from enhancements.regulatory.reporting; the rest is internal AML policy
under the RBI KYC Master Direction's ongoing-due-diligence duty (monitor transactions for
consistency with the customer's profile; watch large, complex or unusual patterns).
"""

from __future__ import annotations

from decimal import Decimal

from enhancements.regulatory import kyc, reporting

ODD = "RBI Master Direction - KYC Direction, 2016 (as updated), Chapter VI s.36 (ongoing due diligence)"

DEFAULT_RULES: list[dict] = [
    dict(code="HIGH_VALUE", severity="MEDIUM", threshold_amount=Decimal("200000.00"),
         rationale="A single received payment of at least this amount gets a human look (enhanced due diligence).",
         source=f"Internal AML policy under {ODD}"),
    dict(code="VELOCITY_PAYER", severity="MEDIUM", threshold_count=10, threshold_amount=Decimal("200000.00"),
         window_minutes=60,
         rationale="One payer (VPA, else e-mail, else mobile) paying at least N times, or at least the amount in "
                   "total, within one window: card testing, mule accounts, layering.",
         source=f"Internal AML policy under {ODD}"),
    dict(code="VELOCITY_MERCHANT", severity="MEDIUM", threshold_count=500, threshold_amount=Decimal("5000000.00"),
         window_minutes=60,
         rationale="A merchant receiving at least N payments, or at least the amount, within one window.",
         source=f"Internal AML policy under {ODD}"),
    dict(code="STRUCTURING", severity="HIGH", threshold_amount=reporting.CTR_THRESHOLD,
         threshold_ratio=Decimal("0.1000"), threshold_count=3, window_minutes=1440,
         rationale="At least N payments by one payer within the window, each within the band just below the "
                   "reporting threshold (threshold x (1 - ratio) <= amount <= threshold): splitting to stay "
                   "under the CTR line.",
         source=f"{reporting.CTR_SOURCE}; {ODD}"),
    dict(code="CROSS_BORDER", severity="HIGH", threshold_amount=reporting.CBWTR_THRESHOLD,
         params={"payment_modes": ["International Card"]},
         rationale="Cross-border payment above Rs 5 lakh: reportable in the monthly CBWTR.",
         source=reporting.CBWTR_SOURCE),
    dict(code="CASH_MONTHLY", severity="HIGH", threshold_amount=reporting.CTR_THRESHOLD,
         params={"payment_modes": ["Challan"]},
         rationale="A merchant's cash (challan) receipts in one calendar month above Rs 10 lakh, counting "
                   "connected transactions: reportable in the monthly CTR.",
         source=reporting.CTR_SOURCE),
    dict(code="REFUND_RATIO", severity="MEDIUM", threshold_ratio=Decimal("0.1000"), min_count=50,
         rationale="Refunded amount over received amount for a merchant's month above the ratio (refund abuse, "
                   "money moved back out through refunds). Only merchants with at least min_count payments.",
         source=f"Internal risk policy under {ODD}"),
    dict(code="CHARGEBACK_RATIO", severity="HIGH", threshold_ratio=Decimal("0.0100"), min_count=100,
         rationale="Chargebacks over received payments (by count) for a merchant's month above the ratio; card "
                   "schemes put merchants in monitoring programmes near 1%.",
         source="Card scheme dispute-monitoring programmes (Visa VAMP / Mastercard ECM), internal risk policy"),
    dict(code="UNUSUAL_HOURS", severity="LOW", threshold_ratio=Decimal("0.3000"), min_count=20,
         params={"night_start_hour": 0, "night_end_hour": 5},
         rationale="Share of a merchant's monthly payments made at night (India time, start <= hour < end) "
                   "above the ratio, with at least min_count night payments.",
         source=f"Internal AML policy under {ODD}"),
    dict(code="VOLUME_SPIKE", severity="MEDIUM", threshold_ratio=Decimal("5.0000"), min_count=7,
         threshold_amount=Decimal("100000.00"), params={"baseline_days": 30},
         rationale="A merchant's daily received amount above ratio x its own average over the previous "
                   "baseline_days (needs min_count days of history, and at least threshold_amount that day).",
         source=f"Internal AML policy under {ODD}"),
    dict(code="MERCHANT_FLAGGED", severity="HIGH",
         rationale="Payments received for a merchant the core marks disabled (client_disable_flag), not "
                   "whitelisted (is_whitelisted = false) or inactive (active = false).",
         source="Merchant onboarding policy; client_data_table flags"),
    dict(code="KYC_NOT_APPROVED", severity="HIGH",
         rationale="Payments received in a month by a merchant whose KYC record is not APPROVED (or missing).",
         source=f"{kyc.SOURCE}; RBI Master Direction - KYC Direction, 2016, Chapter III"),
    dict(code="REKYC_DUE_SOON", severity="LOW", params={"days_before": kyc.REMINDER_DAYS_BEFORE},
         rationale="Periodic re-KYC falls due within days_before days.",
         source=kyc.SOURCE),
    dict(code="REKYC_DUE", severity="MEDIUM",
         rationale="Periodic re-KYC is due (2/8/10 years for high/medium/low risk) and not yet done.",
         source=kyc.SOURCE),
]  # fmt: skip


def rules_install(apps=None) -> int:
    """Create missing rule rows with their defaults (existing rows are left as operators set them)."""
    from ..models import Rule as CurrentRule

    Rule = apps.get_model("compliance", "Rule") if apps else CurrentRule
    created = 0
    for spec in DEFAULT_RULES:
        _obj, was_created = Rule.objects.get_or_create(code=spec["code"], defaults=spec)
        created += was_created
    return created
