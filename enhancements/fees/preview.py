""""What would this merchant have paid": a configuration change priced over a past period.

A read: nothing is logged (it charges nobody). The proposal replaces the merchant's
versions for its mode and fee type over the whole period; everything else is as approved.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import connection

from .pricing_sql import Proposal, naive_bounds, priced_ctes, pricing_terms, transactions_sql
from .selectors import pricing_features


def _totals(*, client_id: int, start: dt.date, end: dt.date, proposal: Proposal | None) -> dict[str, dict]:
    with_platform, with_tiers = pricing_features()
    if proposal is not None:
        with_platform = with_platform or proposal.fee_type == "platform"
        with_tiers = with_tiers or proposal.structure == "volume_tier"
    bounds = naive_bounds(start, end)
    with connection.cursor() as cursor:
        terms = pricing_terms(cursor, proposal=proposal, **bounds)
        ctes, priced, params = priced_ctes(txn_sql=transactions_sql(client_ids=True), with_platform=with_platform,
                                           with_tiers=with_tiers, terms=terms)  # fmt: skip
        params.update(bounds)
        params["client_ids"] = [client_id]
        cursor.execute(
            f"""{ctes}
            SELECT payment_mode, count(*), sum(amount), sum(fee) FILTER (WHERE priced), sum(gst) FILTER (WHERE priced),
                   count(*) FILTER (WHERE NOT priced)
            FROM ({priced}) p GROUP BY payment_mode ORDER BY payment_mode""",
            params,
        )
        zero = Decimal("0.00")
        return {
            mode: {"transactions": n, "amount": amount or zero, "fee": fee or zero, "gst": gst or zero, "unpriced": unpriced}
            for mode, n, amount, fee, gst, unpriced in cursor.fetchall()
        }


def fee_preview(*, client_id: int, proposal: Proposal, start: dt.date, end: dt.date) -> dict:
    """Per payment mode and in total: fee and GST under the configuration in force vs the proposal."""
    current = _totals(client_id=client_id, start=start, end=end, proposal=None)
    proposed = _totals(client_id=client_id, start=start, end=end, proposal=proposal)
    zero = Decimal("0.00")
    modes = []
    for mode in sorted(set(current) | set(proposed)):
        now, then = current.get(mode), proposed.get(mode)
        base = now or then
        modes.append({
            "payment_mode": mode, "transactions": base["transactions"], "amount": base["amount"],
            "current_fee": now["fee"] if now else zero, "current_gst": now["gst"] if now else zero,
            "proposed_fee": then["fee"] if then else zero, "proposed_gst": then["gst"] if then else zero,
            "current_unpriced": now["unpriced"] if now else 0, "proposed_unpriced": then["unpriced"] if then else 0,
        })  # fmt: skip
    total = {key: sum((m[key] for m in modes), zero) for key in ("current_fee", "current_gst", "proposed_fee", "proposed_gst")}
    total["difference"] = (total["proposed_fee"] + total["proposed_gst"]) - (total["current_fee"] + total["current_gst"])
    return {"period_start": start, "period_end": end, "modes": modes, "total": total}


def last_month(today: dt.date) -> tuple[dt.date, dt.date]:
    end = dt.date(today.year, today.month, 1)
    return (end - dt.timedelta(days=1)).replace(day=1), end
