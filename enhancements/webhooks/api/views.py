"""Merchant API: own endpoints, deliveries and attempts; replay, recover, rotate, test ping.

Every query starts from the caller's client_id, so another merchant's object is simply not
found (404, not 403: existence is not revealed)."""

from __future__ import annotations

import datetime as dt
import uuid

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from enhancements.platform.merchant_auth import IsMerchant, MerchantKeyAuthentication, merchant_scope

from .. import selectors, services
from ..models import WebhookDelivery
from . import serializers as s


def _call(fn, **kwargs):
    try:
        return fn(**kwargs)
    except DjangoValidationError as exc:
        raise ValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}) from exc


class _Merchant:
    authentication_classes = [MerchantKeyAuthentication]
    permission_classes = [IsMerchant]


class NewestFirst(CursorPagination):
    ordering = "-created_at"
    page_size = 50


@extend_schema_view(
    list=extend_schema(summary="List your webhook endpoints"),
    retrieve=extend_schema(summary="Get one endpoint"),
    destroy=extend_schema(summary="Delete an endpoint (its delivery history goes with it)"),
)
class EndpointViewSet(_Merchant, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    serializer_class = s.EndpointSerializer
    pagination_class = NewestFirst

    def get_queryset(self):
        return selectors.endpoints_for_merchant(client_id=merchant_scope(self.request).client_id)

    def get_object(self):
        try:
            uuid.UUID(str(self.kwargs["pk"]))
        except ValueError:
            raise Http404 from None
        return super().get_object()

    @extend_schema(summary="Create an endpoint; the response shows its signing secret once",
                   request=s.EndpointWriteSerializer, responses={201: s.EndpointWithSecretSerializer})  # fmt: skip
    def create(self, request):
        principal = merchant_scope(request)
        data = s.EndpointWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint, secret = _call(services.endpoint_create, client_id=principal.client_id, client_code=principal.client_code,
                                 **data.validated_data)  # fmt: skip
        return Response({**s.EndpointSerializer(endpoint).data, "secret": secret}, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Change an endpoint (is_active=true re-enables a disabled one)", request=s.EndpointUpdateSerializer,
                   responses=s.EndpointSerializer)  # fmt: skip
    def partial_update(self, request, pk=None):
        endpoint = self.get_object()
        data = s.EndpointUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        endpoint = _call(services.endpoint_update, endpoint=endpoint, **data.validated_data)
        return Response(s.EndpointSerializer(endpoint).data)

    def perform_destroy(self, instance):
        services.endpoint_delete(endpoint=instance)

    @extend_schema(summary="Rotate the signing secret; the old one keeps signing for the grace period",
                   request=s.RotateSecretSerializer, responses=s.EndpointWithSecretSerializer)  # fmt: skip
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        endpoint = self.get_object()
        data = s.RotateSecretSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        grace = dt.timedelta(hours=data.validated_data["grace_period_hours"])
        endpoint, secret = _call(services.endpoint_rotate_secret, endpoint=endpoint, grace_period=grace)
        return Response({**s.EndpointSerializer(endpoint).data, "secret": secret})

    @extend_schema(summary="Send a webhook.test event to this endpoint", request=None, responses={202: s.DeliverySerializer})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        delivery = _call(services.endpoint_test_ping, endpoint=self.get_object())
        return Response(s.DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(summary="Replay every failed delivery since a time (at most 14 days back)", request=s.RecoverSerializer,
                   responses={202: s.RecoverResultSerializer})  # fmt: skip
    @action(detail=True, methods=["post"])
    def recover(self, request, pk=None):
        endpoint = self.get_object()
        data = s.RecoverSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        queued = _call(services.endpoint_recover, endpoint=endpoint, since=data.validated_data["since"])
        return Response({"queued": queued}, status=status.HTTP_202_ACCEPTED)


_FILTERS = [
    OpenApiParameter("endpoint", str, description="endpoint id"),
    OpenApiParameter("state", str, enum=[c for c, _ in WebhookDelivery.State.choices]),
    OpenApiParameter("event_type", str),
    OpenApiParameter("txn_id", str),
]


@extend_schema_view(
    list=extend_schema(summary="List your deliveries, newest first", parameters=_FILTERS),
    retrieve=extend_schema(summary="One delivery with its body", responses=s.DeliveryDetailSerializer),
)
class DeliveryViewSet(_Merchant, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.DeliverySerializer
    pagination_class = NewestFirst

    def get_serializer_class(self):
        return s.DeliveryDetailSerializer if self.action == "retrieve" else s.DeliverySerializer

    def get_object(self):
        if not str(self.kwargs["pk"]).isdigit():
            raise Http404
        return super().get_object()

    def get_queryset(self):
        qs = selectors.deliveries_for_merchant(client_id=merchant_scope(self.request).client_id)
        if self.action != "list":
            return qs
        params = self.request.query_params
        if endpoint := params.get("endpoint"):
            try:
                qs = qs.filter(endpoint_id=uuid.UUID(endpoint))
            except ValueError:
                raise ValidationError({"endpoint": "not an endpoint id"}) from None
        if state := params.get("state"):
            if state not in WebhookDelivery.State.values:
                raise ValidationError({"state": f"one of {', '.join(WebhookDelivery.State.values)}"})
            qs = qs.filter(state=state)
        if event_type := params.get("event_type"):
            qs = qs.filter(event_type=event_type)
        if txn_id := params.get("txn_id"):
            qs = qs.filter(txn_id=txn_id)
        return qs

    @extend_schema(summary="The HTTP attempts of a delivery", responses=s.AttemptSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)
    def attempts(self, request, pk=None):
        delivery = self.get_object()
        return Response(s.AttemptSerializer(selectors.attempts_for_delivery(delivery=delivery), many=True).data)

    @extend_schema(summary="Send this delivery again (same webhook-id and body)", request=None, responses={202: s.DeliverySerializer})
    @action(detail=True, methods=["post"])
    def replay(self, request, pk=None):
        replay = _call(services.delivery_replay, delivery=self.get_object())
        return Response(s.DeliverySerializer(replay).data, status=status.HTTP_202_ACCEPTED)
