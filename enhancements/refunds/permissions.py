"""Approver groups: one per approval level, plus the operators who raise refunds.

Created by migration 0002; `ensure_groups()` recreates them (e.g. after a test flush).
"""

from __future__ import annotations

VIEW = ["view_refundrequest", "view_refundbatch", "view_refundbatchitem", "view_refundapprovalworkflow"]
GROUPS = {
    "Refund approvers L1": ["approve_refund_l1", *VIEW],
    "Refund approvers L2": ["approve_refund_l2", *VIEW],
    "Refund finance approvers": ["approve_refund_finance", *VIEW],
    "Refund operators": ["add_refundrequest", "add_refundbatch", "view_inboundcallback", "change_inboundcallback", *VIEW],
}


def ensure_groups(group_model=None, permission_model=None) -> None:
    if group_model is None:
        from django.contrib.auth.models import Group as group_model, Permission as permission_model  # noqa: N813
    for name, codenames in GROUPS.items():
        group, _ = group_model.objects.get_or_create(name=name)
        group.permissions.add(*permission_model.objects.filter(content_type__app_label="refunds", codename__in=codenames))
