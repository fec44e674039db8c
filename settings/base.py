"""Settings shared by every environment. Configuration comes from the environment;
the README lists every variable. Only DATABASE_URL is needed for `manage.py`."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from .databases import build_databases

BASE_DIR = Path(__file__).resolve().parent.parent

# Used only where nothing else is configured; production refuses to start with it.
INSECURE_DEFAULT_SECRET_KEY = "insecure-dev-key-do-not-use-in-production"


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_bool(name: str, default: bool) -> bool:
    value = env(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def env_int(name: str, default: int) -> int:
    value = env(name)
    return default if value is None else int(value)


# Which settings module is in force: local / test / production.
ENVIRONMENT = "local"
SECRET_KEY = env("SECRET_KEY", INSECURE_DEFAULT_SECRET_KEY)
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = [h.strip() for h in env("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in env("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_celery_beat",
    "core_legacy",
    "enhancements.platform",
    "enhancements.events",
    "enhancements.changefeed",
    "enhancements.webhooks",
    "enhancements.refunds",
    "enhancements.reconciliation",
    "enhancements.fees",
    "enhancements.compliance",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "settings.urls"
WSGI_APPLICATION = "settings.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Databases -------------------------------------------------------------------
DATABASE_URL = env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/backoffice")
CORE_DATABASE_URL = env("CORE_DATABASE_URL", DATABASE_URL)
ENHANCEMENT_DB_SCHEMA = env("ENHANCEMENT_DB_SCHEMA", "enh")
CORE_DB_SCHEMA = env("CORE_DB_SCHEMA", "public")
DATABASES = build_databases(
    database_url=DATABASE_URL,
    core_database_url=CORE_DATABASE_URL,
    enhancement_schema=ENHANCEMENT_DB_SCHEMA,
    core_schema=CORE_DB_SCHEMA,
    conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
)
# Parallel workers for each million-row CREATE TABLE AS of the set-based jobs (their leader
# process writes every row: enhancements.platform.sql_session.bulk_write_workers). 1 suits a
# 2-core database server; raise it on a bigger one.
BULK_WRITE_WORKERS = env_int("BULK_WRITE_WORKERS", 1)
if not 0 <= BULK_WRITE_WORKERS <= 1024:  # PostgreSQL's range for max_parallel_workers_per_gather
    raise ImproperlyConfigured(f"BULK_WRITE_WORKERS must be from 0 to 1024, not {BULK_WRITE_WORKERS}")
DATABASE_ROUTERS = ["core_legacy.router.CoreLegacyRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Production sets this: every new `core` connection must prove it is read-only.
CORE_REQUIRE_READ_ONLY_SESSION = False

# --- Redis / Celery ------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = env("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "Asia/Kolkata"

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
    }
}

# --- Auth, i18n, time ---------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-in"
# Enhancement timestamps are stored in UTC; the admin shows India time.
USE_TZ = True
TIME_ZONE = "Asia/Kolkata"
# The core writes naive timestamps in India local time (see core_legacy/fields.py).
CORE_TIME_ZONE = "Asia/Kolkata"
USE_I18N = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))

# --- API ----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "enhancements.platform.merchant_auth.MerchantKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Payment back office API",
    "DESCRIPTION": "Merchant and operator API of the enhancement layer beside the payment core.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
}

# Demo operator created by `./scripts/run` (manage.py ensure_demo_operator).
DEMO_OPERATOR_USERNAME = env("DEMO_OPERATOR_USERNAME", "operator")

# --- Encryption at rest (webhook secrets and other sensitive values) ---------------
# Comma-separated Fernet keys; the first encrypts, all decrypt (rotation). Production
# requires them; elsewhere a key is derived from SECRET_KEY so the demo works.
FERNET_KEYS = [k.strip() for k in env("FERNET_KEYS", "").split(",") if k.strip()]

# --- Outbound HTTP to merchants ---------------------------------------------------------
# Networks a webhook may be delivered to although private/loopback (dev and tests only).
WEBHOOK_ALLOWED_PRIVATE_NETWORKS = [n.strip() for n in env("WEBHOOK_ALLOWED_PRIVATE_NETWORKS", "").split(",") if n.strip()]

# --- Core gateway API (refund execution etc.) -------------------------------------------
CORE_GATEWAY_URL = env("CORE_GATEWAY_URL", "http://127.0.0.1:8765")
CORE_GATEWAY_API_KEY = env("CORE_GATEWAY_API_KEY", "local-simulator-key")
CORE_GATEWAY_TIMEOUT_S = float(env("CORE_GATEWAY_TIMEOUT_S", "10"))
# Shared secret the core gateway signs its callbacks to us with (HMAC-SHA256).
CORE_CALLBACK_SECRET = env("CORE_CALLBACK_SECRET", "local-callback-secret")
