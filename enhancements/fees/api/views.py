"""Merchant API: calculate a fee, list the configurations in force, preview a change."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from core_legacy.fields import core_tz
from enhancements.platform.merchant_auth import IsMerchant, MerchantKeyAuthentication, merchant_scope
from enhancements.regulatory.mdr import ZeroMdrViolation

from ..calculation import FeeConfigurationMissing, PromotionUnavailable, fee_calculate
from ..calculator import FeeConfigurationError
from ..pricing_sql import Proposal
from ..preview import fee_preview, last_month
from ..selectors import merchant_configurations
from ..validation import FeeValidationError, validate_terms
from .serializers import CalculateRequest, CalculateResponse, ConfigurationSerializer, PreviewRequest


def _jsonable(value):
    """Money as "123.45" strings (DRF would turn a bare Decimal into a float)."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, (Decimal, dt.date)):
        return str(value) if isinstance(value, Decimal) else value.isoformat()
    return value


def _problem(code: int, detail: str, errors: dict | None = None) -> Response:
    body = {"detail": detail}
    if errors:
        body["errors"] = errors
    return Response(body, status=code)


class MerchantView(APIView):
    authentication_classes = [MerchantKeyAuthentication]
    permission_classes = [IsMerchant]


class CalculateView(MerchantView):
    @extend_schema(request=CalculateRequest, responses={200: CalculateResponse})
    def post(self, request):
        merchant = merchant_scope(request)
        form = CalculateRequest(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            calc = fee_calculate(
                client_id=merchant.client_id, client_code=merchant.client_code, payment_mode=data["payment_mode"],
                amount=data["amount"], at=data.get("at"), txn_id=data.get("txn_id") or None,
                promo_code=data.get("promo_code") or "", quote=data["quote"], source="api",
            )  # fmt: skip
        except FeeValidationError as exc:
            return _problem(400, "invalid input", exc.errors)
        except (FeeConfigurationMissing, FeeConfigurationError) as exc:
            return _problem(422, str(exc))
        except PromotionUnavailable as exc:
            return _problem(409, str(exc))
        r = calc.result
        return Response({
            "calculation_id": calc.log_id, "payment_mode": calc.payment_mode, "amount": str(r.amount),
            "fee": str(r.fee), "discount": str(r.discount), "gst": str(r.gst), "total": str(r.total),
            "net_amount": str(r.net_amount), "components": calc.breakdown["components"],
            "promotion": calc.breakdown["promotion"],
        })  # fmt: skip


class ConfigurationListView(MerchantView):
    @extend_schema(responses={200: inline_serializer("ConfigurationList", {"results": ConfigurationSerializer(many=True)})})
    def get(self, request):
        merchant = merchant_scope(request)
        rows = merchant_configurations(client_id=merchant.client_id, at=timezone.now())
        return Response({"results": ConfigurationSerializer(rows, many=True).data})


class PreviewView(MerchantView):
    @extend_schema(request=PreviewRequest, responses={200: OpenApiTypes.OBJECT})
    def post(self, request):
        merchant = merchant_scope(request)
        form = PreviewRequest(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            terms = validate_terms(**data)
        except FeeValidationError as exc:
            return _problem(400, "invalid configuration", exc.errors)
        except ZeroMdrViolation as exc:
            return _problem(400, str(exc), {"payment_mode": str(exc)})
        proposal = Proposal(merchant.client_id, data["payment_mode"], data["fee_type"], data["structure"],
                            terms["percent"], terms["fixed_amount"], terms["slabs"], terms["tiers"], terms["min_fee"],
                            terms["max_fee"], terms["gst_rate"])  # fmt: skip
        start, end = last_month(timezone.now().astimezone(core_tz()).date())
        result = fee_preview(client_id=merchant.client_id, proposal=proposal, start=start, end=end)
        return Response(_jsonable(result), status=status.HTTP_200_OK)
