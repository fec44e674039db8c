"""Writes for fee configurations (maker-checker, effective dating) and promotions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from core_legacy.selectors import merchant_get

from .models import PAYMENT_MODES, ConfigStatus, DiscountType, FeeConfiguration, PromotionalFee
from .validation import FeeValidationError, validate_terms


class FeeApprovalError(ValueError):
    """A maker-checker or effective-dating rule refused the action."""


def _lock_scope(*, client_id: int | None, payment_mode: str, fee_type: str) -> None:
    # Serialises version numbering and approvals per merchant+mode+fee type, also when the
    # scope has no row yet to lock.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"fees:{client_id}:{payment_mode}:{fee_type}"])


def _require_operator(user, action: str) -> None:
    if user is None or not getattr(user, "is_staff", False):
        raise FeeApprovalError(f"only staff operators may {action}")


def _core_client_code(client_id: int, client_code: str) -> str:
    merchant = merchant_get(client_id=client_id)
    if merchant is None:
        raise FeeValidationError({"client_id": f"no merchant with client_id {client_id} in the core"})
    if client_code and merchant.client_code and client_code != merchant.client_code:
        raise FeeValidationError({"client_code": f"client {client_id} is {merchant.client_code}, not {client_code}"})
    return merchant.client_code or client_code or ""


@transaction.atomic
def fee_configuration_propose(
    *,
    created_by,
    client_id: int | None,
    client_code: str = "",
    payment_mode: str,
    fee_type: str = "mdr",
    structure: str,
    effective_from: dt.datetime,
    effective_until: dt.datetime | None = None,
    percent=None,
    fixed_amount=None,
    slabs=None,
    tiers=None,
    min_fee=None,
    max_fee=None,
    gst_rate=None,
    note: str = "",
) -> FeeConfiguration:
    """A new pending version; it takes effect only once a second operator approves it.

    Raises FeeValidationError (field -> message) or ZeroMdrViolation."""
    _require_operator(created_by, "propose fee configurations")
    terms = validate_terms(payment_mode=payment_mode, fee_type=fee_type, structure=structure, percent=percent,
                           fixed_amount=fixed_amount, slabs=slabs, tiers=tiers, min_fee=min_fee, max_fee=max_fee,
                           gst_rate=gst_rate)  # fmt: skip
    if effective_from is None or timezone.is_naive(effective_from):
        raise FeeValidationError({"effective_from": "an aware date-time is required"})
    if effective_until is not None and (timezone.is_naive(effective_until) or effective_until <= effective_from):
        raise FeeValidationError({"effective_until": "must be an aware date-time after effective_from"})
    if client_id is not None:
        client_code = _core_client_code(client_id, client_code)
    _lock_scope(client_id=client_id, payment_mode=payment_mode, fee_type=fee_type)
    scope = FeeConfiguration.objects.filter(payment_mode=payment_mode, fee_type=fee_type)
    scope = scope.filter(client_id=client_id) if client_id is not None else scope.filter(client_id__isnull=True)
    version = (scope.aggregate(v=Max("version"))["v"] or 0) + 1
    return FeeConfiguration.objects.create(
        client_id=client_id, client_code=client_code or "", payment_mode=payment_mode, fee_type=fee_type,
        version=version, structure=structure, effective_from=effective_from, effective_until=effective_until,
        status=ConfigStatus.PENDING, note=note, created_by=created_by, **terms,
    )  # fmt: skip


@transaction.atomic
def fee_configuration_approve(*, configuration_id: int, approved_by, note: str = "", now: dt.datetime | None = None) -> FeeConfiguration:
    """Checker approves: the version takes effect from its effective_from.

    History is never rewritten: a version may start in the past only where no approved
    version was in force (it then fills a gap the default covered); otherwise it must start
    at or after approval. The approved version in force at its start gets its open end
    closed at that instant (and is recorded in `supersedes`); an approved version starting
    later that it would overlap is a conflict the operator must resolve first.
    """
    _require_operator(approved_by, "approve fee configurations")
    now = now or timezone.now()
    config = FeeConfiguration.objects.select_for_update().get(pk=configuration_id)
    if config.status != ConfigStatus.PENDING:
        raise FeeApprovalError(f"version {config.version} is {config.status}, not pending")
    if config.created_by_id == approved_by.pk:
        raise FeeApprovalError("maker-checker: the operator who proposed a change cannot approve it")
    _lock_scope(client_id=config.client_id, payment_mode=config.payment_mode, fee_type=config.fee_type)
    approved = FeeConfiguration.objects.select_for_update().filter(
        payment_mode=config.payment_mode, fee_type=config.fee_type, status=ConfigStatus.APPROVED
    )
    approved = approved.filter(client_id=config.client_id) if config.client_id is not None else approved.filter(client_id__isnull=True)
    start, end = config.effective_from, config.effective_until
    overlapping = approved.filter(Q(effective_until__isnull=True) | Q(effective_until__gt=start))
    if end is not None:
        overlapping = overlapping.filter(effective_from__lt=end)
    predecessor = None
    for other in overlapping.order_by("effective_from"):
        if other.effective_from < start:
            if start < now:
                raise FeeApprovalError(
                    f"effective_from {start.isoformat()} is in the past while version {other.version} was in force; "
                    "approving would rewrite fees already charged. Propose a version starting now or later."
                )
            predecessor = other
        else:
            raise FeeApprovalError(
                f"overlaps approved version {other.version} effective from {other.effective_from.isoformat()}; "
                "only one version may be in force for a merchant, mode and fee type at any time"
            )
    if predecessor is not None:
        predecessor.effective_until = start
        predecessor.save(update_fields=["effective_until"])
        config.supersedes = predecessor
    config.status = ConfigStatus.APPROVED
    config.decided_by = approved_by
    config.decided_at = now
    config.decision_note = note
    try:
        with transaction.atomic():
            config.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "supersedes"])
    except IntegrityError as exc:  # the exclusion constraint: the last guard against overlaps
        raise FeeApprovalError(f"approval refused by the database: {exc}") from exc
    return config


@transaction.atomic
def fee_configuration_reject(*, configuration_id: int, rejected_by, reason: str) -> FeeConfiguration:
    _require_operator(rejected_by, "reject fee configurations")
    if not (reason or "").strip():
        raise FeeApprovalError("a rejection needs a reason")
    config = FeeConfiguration.objects.select_for_update().get(pk=configuration_id)
    if config.status != ConfigStatus.PENDING:
        raise FeeApprovalError(f"version {config.version} is {config.status}, not pending")
    if config.created_by_id == rejected_by.pk:
        raise FeeApprovalError("maker-checker: withdraw your own proposal instead of rejecting it")
    config.status, config.decided_by, config.decided_at, config.decision_note = (
        ConfigStatus.REJECTED, rejected_by, timezone.now(), reason.strip())
    config.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    return config


@transaction.atomic
def fee_configuration_withdraw(*, configuration_id: int, withdrawn_by) -> FeeConfiguration:
    config = FeeConfiguration.objects.select_for_update().get(pk=configuration_id)
    if config.status != ConfigStatus.PENDING:
        raise FeeApprovalError(f"version {config.version} is {config.status}, not pending")
    if config.created_by_id != getattr(withdrawn_by, "pk", None):
        raise FeeApprovalError("only the operator who proposed a change may withdraw it")
    config.status, config.decided_at = ConfigStatus.WITHDRAWN, timezone.now()
    config.save(update_fields=["status", "decided_at"])
    return config


def _money(value, field: str, errors: dict, *, allow_none: bool = False) -> Decimal | None:
    if value in (None, ""):
        if not allow_none:
            errors[field] = "required"
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        errors[field] = f"not a number: {value!r}"
        return None
    if not number.is_finite() or number < 0 or number != number.quantize(Decimal("0.01")):
        errors[field] = "must be >= 0 with at most 2 decimal places"
        return None
    return number


@transaction.atomic
def promotion_create(
    *,
    created_by,
    name: str,
    discount_type: str,
    discount_value,
    valid_from: dt.datetime,
    valid_until: dt.datetime,
    code: str = "",
    client_id: int | None = None,
    max_discount=None,
    min_amount="0",
    payment_modes: list[str] | None = None,
    usage_limit_total: int | None = None,
    usage_limit_per_merchant: int | None = None,
) -> PromotionalFee:
    _require_operator(created_by, "create promotions")
    errors: dict[str, str] = {}
    if not (name or "").strip():
        errors["name"] = "required"
    if discount_type not in DiscountType.values:
        errors["discount_type"] = f"one of {', '.join(DiscountType.values)}"
    value = _money(discount_value, "discount_value", errors)
    if value is not None and value <= 0:
        errors["discount_value"] = "must be above 0"
    if value is not None and discount_type == DiscountType.PERCENT and value > 100:
        errors["discount_value"] = "a percent discount cannot exceed 100"
    cap = _money(max_discount, "max_discount", errors, allow_none=True)
    minimum = _money(min_amount, "min_amount", errors)
    modes = list(payment_modes or [])
    unknown = [m for m in modes if m not in PAYMENT_MODES]
    if unknown:
        errors["payment_modes"] = f"unknown modes {unknown}; known: {', '.join(PAYMENT_MODES)}"
    for field, limit in (("usage_limit_total", usage_limit_total), ("usage_limit_per_merchant", usage_limit_per_merchant)):
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            errors[field] = "must be a whole number >= 1 (or empty for no limit)"
    if not valid_from or not valid_until or timezone.is_naive(valid_from) or timezone.is_naive(valid_until):
        errors["valid_from"] = "aware valid_from and valid_until are required"
    elif valid_until <= valid_from:
        errors["valid_until"] = "must be after valid_from"
    code = (code or "").strip().upper()
    if code and PromotionalFee.objects.filter(code=code).exists():
        errors["code"] = f"code {code} is already used by another promotion"
    if errors:
        raise FeeValidationError(errors)
    return PromotionalFee.objects.create(
        name=name.strip(), code=code, client_id=client_id, discount_type=discount_type, discount_value=value,
        max_discount=cap, min_amount=minimum, payment_modes=modes, valid_from=valid_from, valid_until=valid_until,
        usage_limit_total=usage_limit_total, usage_limit_per_merchant=usage_limit_per_merchant, created_by=created_by,
    )  # fmt: skip


@transaction.atomic
def promotion_deactivate(*, promotion_id: int, by) -> PromotionalFee:
    _require_operator(by, "deactivate promotions")
    promotion = PromotionalFee.objects.select_for_update().get(pk=promotion_id)
    promotion.active = False
    promotion.save(update_fields=["active"])
    return promotion
