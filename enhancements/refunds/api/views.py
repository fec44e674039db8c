"""Merchant API (own refunds only) and the core gateway's callback endpoint."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from enhancements.platform.merchant_auth import IsMerchant, MerchantKeyAuthentication, merchant_scope

from ..callbacks import callback_receive
from ..errors import RefundError, RefundRefused
from ..models import InboundCallback, RefundRequest, RefundSource
from ..services import refund_cancel, refund_create
from .serializers import RefundCreateSerializer, RefundSerializer, RefusalSerializer


def refusal(exc: RefundError, code: int = status.HTTP_400_BAD_REQUEST) -> Response:
    rule = exc.rule if isinstance(exc, RefundRefused) else type(exc).__name__
    detail = exc.message if isinstance(exc, RefundRefused) else str(exc)
    return Response({"rule": rule, "detail": detail}, status=code)


class MerchantRefundMixin:
    authentication_classes = [MerchantKeyAuthentication]
    permission_classes = [IsMerchant]
    serializer_class = RefundSerializer

    def get_queryset(self):
        return RefundRequest.objects.filter(client_id=merchant_scope(self.request).client_id)


class NewestFirst(CursorPagination):
    ordering = "-id"  # keyset on the primary key: stable and indexed


class RefundListCreateView(MerchantRefundMixin, generics.ListAPIView):
    pagination_class = NewestFirst

    @extend_schema(request=RefundCreateSerializer, responses={201: RefundSerializer, 400: RefusalSerializer})
    def post(self, request):
        merchant = merchant_scope(request)
        data = RefundCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            refund = refund_create(
                amount=data.validated_data["amount"], source=RefundSource.MERCHANT, reason=data.validated_data["reason"],
                txn_id=data.validated_data.get("txn_id"), client_code=merchant.client_code,
                client_txn_id=data.validated_data.get("client_txn_id"), actor_label=f"merchant:{merchant.client_code}",
                merchant_client_id=merchant.client_id,
            )  # fmt: skip
        except RefundError as exc:
            return refusal(exc)
        return Response(RefundSerializer(refund).data, status=status.HTTP_201_CREATED)


class RefundDetailView(MerchantRefundMixin, generics.RetrieveAPIView):
    lookup_field = "reference"


class RefundCancelView(MerchantRefundMixin, APIView):
    @extend_schema(request=None, responses={200: RefundSerializer, 409: RefusalSerializer})
    def post(self, request, reference):
        refund = get_object_or_404(self.get_queryset(), reference=reference)
        try:
            refund = refund_cancel(refund_id=refund.pk, merchant_client_id=merchant_scope(request).client_id,
                                   comment="cancelled through the API")  # fmt: skip
        except RefundError as exc:
            return refusal(exc, status.HTTP_409_CONFLICT)
        return Response(RefundSerializer(refund).data)


_CALLBACK_STATUS = {
    InboundCallback.Status.PROCESSED: 200,
    InboundCallback.Status.DUPLICATE: 200,
    InboundCallback.Status.STORED: 200,
    InboundCallback.Status.SIGNATURE_REJECTED: 401,
    InboundCallback.Status.INVALID: 400,
    InboundCallback.Status.FAILED: 422,
}


class CoreGatewayCallbackView(APIView):
    """The core gateway posts refund/settlement status here (HMAC-signed; see integrations/core_gateway/signing.py)."""

    authentication_classes: list = []  # authenticated by the body signature, not a session
    permission_classes = [AllowAny]

    @extend_schema(request=None, responses={200: None})
    def post(self, request):
        callback = callback_receive(body=request.body, headers=dict(request.headers),
                                    remote_addr=request.META.get("REMOTE_ADDR", ""))  # fmt: skip
        body = {"callback_id": callback.pk, "status": callback.status}
        if callback.error:
            body["error"] = callback.error
        return Response(body, status=_CALLBACK_STATUS.get(callback.status, 200))
