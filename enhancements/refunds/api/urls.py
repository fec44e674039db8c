from django.urls import path

from . import views

app_name = "refunds"

urlpatterns = [
    path("", views.RefundListCreateView.as_view(), name="refund-list"),
    path("callbacks/core-gateway/", views.CoreGatewayCallbackView.as_view(), name="core-gateway-callback"),
    path("<uuid:reference>/", views.RefundDetailView.as_view(), name="refund-detail"),
    path("<uuid:reference>/cancel/", views.RefundCancelView.as_view(), name="refund-cancel"),
]
