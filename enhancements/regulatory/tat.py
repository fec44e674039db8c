"""RBI turn-around time (TAT) for failed transactions, and the compensation for missing it.

Source: RBI circular DPSS.CO.PD No.629/02.01.014/2019-20, 20 September 2019,
"Harmonisation of Turn Around Time (TAT) and customer compensation for failed
transactions using authorised Payment Systems". In it, T is the calendar date of the
transaction and R the day the reversal is concluded; compensation is Rs 100 per day
of delay beyond the TAT, payable to the customer without a claim.

Shared by the refunds workflow (each refund/reversal carries its deadline) and the
compliance TAT report. The channel is derived from the core's payment mode.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

SOURCE = "RBI DPSS.CO.PD No.629/02.01.014/2019-20 dated 20 Sep 2019"
COMPENSATION_PER_DAY = Decimal("100.00")


@dataclasses.dataclass(frozen=True)
class TatRule:
    channel: str
    scenario: str
    tat_days: int  # reversal due by T + tat_days (calendar days)
    compensation_per_day: Decimal
    source: str


TAT_RULES: dict[str, TatRule] = {
    rule.channel: rule
    for rule in (
        TatRule("CARD_NOT_PRESENT", "Card e-commerce: account debited, merchant did not get confirmation", 5,
                COMPENSATION_PER_DAY, f"{SOURCE}, Annex item I.4"),
        TatRule("CARD_PRESENT", "Card at POS: account debited, merchant did not get confirmation", 5,
                COMPENSATION_PER_DAY, f"{SOURCE}, Annex item I.3"),
        TatRule("IMPS", "IMPS: account debited, beneficiary not credited", 1, COMPENSATION_PER_DAY,
                f"{SOURCE}, Annex item II.6"),
        TatRule("UPI_P2P", "UPI: account debited, beneficiary not credited", 1, COMPENSATION_PER_DAY,
                f"{SOURCE}, Annex item III.7"),
        TatRule("UPI_P2M", "UPI merchant payment: account debited, merchant did not get confirmation", 5,
                COMPENSATION_PER_DAY, f"{SOURCE}, Annex item III.8"),
        TatRule("PPI_ON_US", "Wallet (PPI) on-us: debited wallet not reversed / beneficiary not credited", 1,
                COMPENSATION_PER_DAY, f"{SOURCE}, Annex item VI.13"),
        # Net banking, challan and anything the circular does not name: the aggregator's
        # own policy applies the card-not-present TAT (T+5). Not a regulatory figure.
        TatRule("OTHER", "Not named in the circular: T+5 by policy", 5, COMPENSATION_PER_DAY,
                "Policy (circular does not cover this channel)"),
    )
}  # fmt: skip

# Core payment_mode names (payment_mode.paymode_name) -> TAT channel.
_CHANNEL_BY_MODE = {
    "upi": "UPI_P2M",  # payments through an aggregator are person-to-merchant
    "debit card": "CARD_NOT_PRESENT",
    "rupay debit card": "CARD_NOT_PRESENT",
    "credit card": "CARD_NOT_PRESENT",
    "international card": "CARD_NOT_PRESENT",
    "wallet": "PPI_ON_US",
    "imps": "IMPS",
}


def channel_for_payment_mode(payment_mode: str | None) -> str:
    return _CHANNEL_BY_MODE.get((payment_mode or "").strip().lower(), "OTHER")


def tat_deadline(channel: str, transaction_date: dt.date) -> dt.date:
    """Last calendar day by which the reversal must be concluded (T + TAT)."""
    return transaction_date + dt.timedelta(days=TAT_RULES[channel].tat_days)


def days_late(channel: str, transaction_date: dt.date, resolved_on: dt.date) -> int:
    """Whole days of delay beyond the TAT (0 if on time). `resolved_on` is R, or today if open."""
    return max((resolved_on - tat_deadline(channel, transaction_date)).days, 0)


def compensation_due(channel: str, transaction_date: dt.date, resolved_on: dt.date) -> Decimal:
    return TAT_RULES[channel].compensation_per_day * days_late(channel, transaction_date, resolved_on)
