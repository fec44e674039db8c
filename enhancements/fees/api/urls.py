from django.urls import path

from .views import CalculateView, ConfigurationListView, PreviewView

urlpatterns = [
    path("calculate/", CalculateView.as_view(), name="fees-calculate"),
    path("configurations/", ConfigurationListView.as_view(), name="fees-configurations"),
    path("preview/", PreviewView.as_view(), name="fees-preview"),
]
