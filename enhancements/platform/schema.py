"""Tell drf-spectacular how merchants authenticate (documents the Bearer API key)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class MerchantKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "enhancements.platform.merchant_auth.MerchantKeyAuthentication"
    name = "merchantApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "mk_...",
            "description": "Merchant API key (manage.py create_merchant_api_key); scopes every call to that merchant.",
        }
