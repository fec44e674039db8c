"""Production: refuses to start when it would be unsafe.

- DEBUG must be off;
- SECRET_KEY must be set and not the development default;
- the `core` connection must be read-only: its session option is forced on here, any
  URL trying to turn it off is refused, and every new core connection checks
  `SHOW transaction_read_only` (core_legacy/readonly.py) and refuses to be used if off.
"""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F401,F403
from .base import DATABASES, DEBUG, FERNET_KEYS, INSECURE_DEFAULT_SECRET_KEY, SECRET_KEY
from .databases import core_options_are_read_only

if DEBUG:
    raise ImproperlyConfigured("Production settings refuse to start with DEBUG on (unset DEBUG or set DEBUG=0).")
if not SECRET_KEY or SECRET_KEY == INSECURE_DEFAULT_SECRET_KEY or len(SECRET_KEY) < 32:
    raise ImproperlyConfigured(
        "Production settings refuse to start without a real SECRET_KEY (set SECRET_KEY to 32+ random characters)."
    )
if not core_options_are_read_only(DATABASES["core"]):
    raise ImproperlyConfigured(
        "Production settings refuse to start: the core connection is not read-only "
        "(CORE_DATABASE_URL must not override default_transaction_read_only)."
    )
if not FERNET_KEYS:
    raise ImproperlyConfigured("Production settings refuse to start without FERNET_KEYS (encryption at rest).")
CORE_REQUIRE_READ_ONLY_SESSION = True
ENVIRONMENT = "production"

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
