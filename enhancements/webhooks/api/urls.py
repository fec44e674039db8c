from rest_framework.routers import SimpleRouter

from .views import DeliveryViewSet, EndpointViewSet

router = SimpleRouter()
router.register("endpoints", EndpointViewSet, basename="webhook-endpoint")
router.register("deliveries", DeliveryViewSet, basename="webhook-delivery")
urlpatterns = router.urls
