"""Checks a proposed fee configuration before it is stored; every error names the field."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from enhancements.regulatory.mdr import ZeroMdrViolation, is_zero_mdr_mode

from .models import PAYMENT_MODES, FeeType, Structure

ZERO = Decimal("0")


class FeeValidationError(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def _decimal(value, field: str, errors: dict, *, places: int, allow_none: bool = False) -> Decimal | None:
    if value is None or value == "":
        if allow_none:
            return None
        errors[field] = "required"
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        errors[field] = f"not a number: {value!r}"
        return None
    if not number.is_finite() or number < 0:
        errors[field] = "must be a finite number >= 0"
        return None
    if number != number.quantize(Decimal(1).scaleb(-places)):
        errors[field] = f"at most {places} decimal places"
        return None
    return number


def _normalise_slabs(slabs, errors: dict) -> list[dict]:
    if not isinstance(slabs, list) or not slabs:
        errors["slabs"] = "a slab structure needs at least one slab"
        return []
    out = []
    for i, slab in enumerate(slabs):
        if not isinstance(slab, dict):
            errors[f"slabs[{i}]"] = "must be an object"
            return []
        lower = _decimal(slab.get("lower"), f"slabs[{i}].lower", errors, places=2)
        upper = _decimal(slab.get("upper"), f"slabs[{i}].upper", errors, places=2, allow_none=True)
        percent = _decimal(slab.get("percent", "0"), f"slabs[{i}].percent", errors, places=4)
        fixed = _decimal(slab.get("fixed", "0"), f"slabs[{i}].fixed", errors, places=2)
        for key in ("lower_inclusive", "upper_inclusive"):
            if key in slab and not isinstance(slab[key], bool):
                errors[f"slabs[{i}].{key}"] = "must be true or false"
        if "lower_inclusive" not in slab or (upper is not None and "upper_inclusive" not in slab):
            errors[f"slabs[{i}]"] = "state lower_inclusive and upper_inclusive explicitly"
        if errors:
            return []
        if upper is not None and upper <= lower:
            errors[f"slabs[{i}].upper"] = "must be above lower"
            return []
        out.append({"lower": str(lower), "lower_inclusive": slab["lower_inclusive"],
                    "upper": None if upper is None else str(upper),
                    "upper_inclusive": bool(slab.get("upper_inclusive", False)) if upper is not None else False,
                    "percent": str(percent), "fixed": str(fixed)})  # fmt: skip
    # Exactly one slab must match every amount >= 0: start at 0 inclusive, each slab starts
    # where the previous ended with the opposite inclusivity, the last one is open-ended.
    if Decimal(out[0]["lower"]) != ZERO or not out[0]["lower_inclusive"]:
        errors["slabs[0]"] = "the first slab must start at 0 inclusive"
    for i in range(1, len(out)):
        prev, cur = out[i - 1], out[i]
        if prev["upper"] is None or Decimal(prev["upper"]) != Decimal(cur["lower"]):
            errors[f"slabs[{i}].lower"] = f"must equal slabs[{i - 1}].upper (no gaps or overlaps)"
        elif prev["upper_inclusive"] == cur["lower_inclusive"]:
            errors[f"slabs[{i}].lower_inclusive"] = (
                f"must be the opposite of slabs[{i - 1}].upper_inclusive, so the boundary {cur['lower']} "
                "belongs to exactly one slab"
            )
    if out[-1]["upper"] is not None:
        errors[f"slabs[{len(out) - 1}].upper"] = "the last slab must be open-ended (upper null)"
    return out


def _normalise_tiers(tiers, errors: dict) -> list[dict]:
    if not isinstance(tiers, list) or not tiers:
        errors["tiers"] = "a volume-tier structure needs at least one tier"
        return []
    out = []
    for i, tier in enumerate(tiers):
        if not isinstance(tier, dict):
            errors[f"tiers[{i}]"] = "must be an object"
            return []
        minimum = _decimal(tier.get("min_volume"), f"tiers[{i}].min_volume", errors, places=2)
        percent = _decimal(tier.get("percent", "0"), f"tiers[{i}].percent", errors, places=4)
        fixed = _decimal(tier.get("fixed", "0"), f"tiers[{i}].fixed", errors, places=2)
        if errors:
            return []
        out.append({"min_volume": str(minimum), "percent": str(percent), "fixed": str(fixed)})
    if Decimal(out[0]["min_volume"]) != ZERO:
        errors["tiers[0].min_volume"] = "the first tier must start at volume 0"
    for i in range(1, len(out)):
        if Decimal(out[i]["min_volume"]) <= Decimal(out[i - 1]["min_volume"]):
            errors[f"tiers[{i}].min_volume"] = "tiers must be in strictly ascending min_volume"
    return out


def _charges_anything(terms: dict) -> bool:
    if terms["percent"] or terms["fixed_amount"] or terms["min_fee"]:
        return True
    bands = terms["slabs"] + terms["tiers"]
    return any(Decimal(b["percent"]) or Decimal(b["fixed"]) for b in bands)


def validate_terms(*, payment_mode: str, fee_type: str, structure: str, percent=None, fixed_amount=None, slabs=None,
                   tiers=None, min_fee=None, max_fee=None, gst_rate=None) -> dict:  # fmt: skip
    """Normalised terms for FeeConfiguration, or FeeValidationError / ZeroMdrViolation."""
    errors: dict[str, str] = {}
    if payment_mode not in PAYMENT_MODES:
        errors["payment_mode"] = f"unknown payment mode {payment_mode!r}; one of {', '.join(PAYMENT_MODES)}"
    if fee_type not in FeeType.values:
        errors["fee_type"] = f"one of {', '.join(FeeType.values)}"
    if structure not in Structure.values:
        errors["structure"] = f"one of {', '.join(Structure.values)}"
    if errors:
        raise FeeValidationError(errors)
    terms = {
        "percent": _decimal(percent if percent is not None else "0", "percent", errors, places=4),
        "fixed_amount": _decimal(fixed_amount if fixed_amount is not None else "0", "fixed_amount", errors, places=2),
        "min_fee": _decimal(min_fee, "min_fee", errors, places=2, allow_none=True),
        "max_fee": _decimal(max_fee, "max_fee", errors, places=2, allow_none=True),
        "gst_rate": _decimal(gst_rate if gst_rate is not None else "18.00", "gst_rate", errors, places=2),
        "slabs": [],
        "tiers": [],
    }
    if errors:
        raise FeeValidationError(errors)
    if terms["percent"] > 100:
        errors["percent"] = "cannot exceed 100"
    if terms["gst_rate"] > 100:
        errors["gst_rate"] = "cannot exceed 100"
    if terms["min_fee"] is not None and terms["max_fee"] is not None and terms["min_fee"] > terms["max_fee"]:
        errors["min_fee"] = "must not exceed max_fee"
    if structure == Structure.FLAT and terms["percent"]:
        errors["percent"] = "a flat fee has no percentage (use percentage_fixed)"
    if structure == Structure.PERCENTAGE and terms["fixed_amount"]:
        errors["fixed_amount"] = "a percentage fee has no fixed part (use percentage_fixed)"
    if structure in (Structure.SLAB, Structure.VOLUME_TIER) and (terms["percent"] or terms["fixed_amount"]):
        errors["percent"] = "slab and tier structures take their rates from the slabs/tiers"
    if structure == Structure.SLAB:
        terms["slabs"] = _normalise_slabs(slabs, errors)
    elif slabs:
        errors["slabs"] = "only a slab structure has slabs"
    if structure == Structure.VOLUME_TIER:
        terms["tiers"] = _normalise_tiers(tiers, errors)
    elif tiers:
        errors["tiers"] = "only a volume_tier structure has tiers"
    if errors:
        raise FeeValidationError(errors)
    if fee_type == FeeType.MDR and is_zero_mdr_mode(payment_mode) and _charges_anything(terms):
        raise ZeroMdrViolation(payment_mode)
    return terms
