"""Zero merchant discount rate (MDR): payment modes on which no MDR may be charged.

Sources (what this module relies on, and nothing more):
- Payment and Settlement Systems Act 2007, section 10A, inserted by the Finance (No. 2)
  Act 2019 (Act 23 of 2019) with effect from 1 Nov 2019: no bank or system provider shall
  impose any charge upon a payer making, or a beneficiary receiving, a payment by the
  electronic modes prescribed under section 269SU of the Income-tax Act 1961.
- CBDT Notification No. 105/2019-Income Tax, G.S.R. 960(E), 30 Dec 2019 (Income-tax
  (16th Amendment) Rules 2019, F. No. 370142/35/2019-TPL), inserting rule 119AA of the
  Income-tax Rules 1962 from 1 Jan 2020. The prescribed modes are: (i) Debit Card powered
  by RuPay; (ii) Unified Payments Interface (UPI) (BHIM-UPI); (iii) UPI Quick Response
  Code (BHIM-UPI QR Code).
- (Context only: CBDT Circular No. 32/2019 of the same date deals with the section 271DB
  penalty for not offering these modes; it sets no rate.)

What the fee service does with it:
- An MDR fee configuration for a zero-MDR mode that would charge anything (a percentage,
  a fixed amount, a slab or tier with a non-zero rate, a minimum fee) is refused with
  `ZeroMdrViolation`, whose message names the mode and the source.
- A platform fee (`fee_type = platform`, a separate service charge the merchant signed up
  for) is a distinct fee type and is not refused here; it is not MDR.
- When no MDR configuration exists for such a mode, the MDR is zero by statute, not
  "missing configuration".

Mapping to the core's `payment_mode` names (core_legacy/seeding/generator.py PAYMENT_MODES):
every UPI payment through this aggregator is person-to-merchant (P2M), so "UPI" is zero-MDR;
"RuPay Debit Card" is zero-MDR; "Debit Card" (Visa/Mastercard debit) is not covered by
rule 119AA and may carry MDR.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

SOURCE = (
    "Payment and Settlement Systems Act 2007 s.10A (inserted by Finance (No. 2) Act 2019) read with "
    "Income-tax Act 1961 s.269SU and CBDT Notification No. 105/2019-Income Tax, G.S.R. 960(E), "
    "30 Dec 2019 (Income-tax Rules 1962 rule 119AA)"
)
EFFECTIVE_FROM = dt.date(2020, 1, 1)  # rule 119AA commencement


@dataclasses.dataclass(frozen=True)
class ZeroMdrRule:
    payment_mode: str  # the core's payment_mode name
    prescribed_mode: str  # the wording of rule 119AA
    source: str


ZERO_MDR_RULES: dict[str, ZeroMdrRule] = {
    rule.payment_mode: rule
    for rule in (
        ZeroMdrRule("UPI", "Unified Payments Interface (UPI) (BHIM-UPI) / UPI QR Code, person-to-merchant",
                    f"{SOURCE}, rule 119AA(ii)-(iii)"),
        ZeroMdrRule("RuPay Debit Card", "Debit Card powered by RuPay", f"{SOURCE}, rule 119AA(i)"),
    )
}  # fmt: skip


class ZeroMdrViolation(ValueError):
    """An MDR configuration that would charge a zero-MDR mode."""

    def __init__(self, payment_mode: str) -> None:
        rule = ZERO_MDR_RULES[payment_mode]
        self.payment_mode = payment_mode
        self.source = rule.source
        super().__init__(
            f"MDR may not be charged on {payment_mode} ({rule.prescribed_mode}): zero MDR under {rule.source}. "
            "Configure a separate platform fee (fee_type 'platform') if the merchant agreed to one."
        )


def is_zero_mdr_mode(payment_mode: str) -> bool:
    return payment_mode in ZERO_MDR_RULES


def zero_mdr_rule(payment_mode: str) -> ZeroMdrRule | None:
    return ZERO_MDR_RULES.get(payment_mode)
