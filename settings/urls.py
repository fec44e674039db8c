from importlib.util import find_spec

from django.apps import apps
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from enhancements.platform.views import healthz

admin.site.site_header = "Payment back office"
admin.site.site_title = "Back office"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

# Each enhancement app with an `api/urls.py` is served under /api/v1/<app label>/.
for _config in apps.get_app_configs():
    if _config.name.startswith("enhancements.") and find_spec(f"{_config.name}.api") and find_spec(f"{_config.name}.api.urls"):
        urlpatterns.append(path(f"api/v1/{_config.label}/", include(f"{_config.name}.api.urls")))
