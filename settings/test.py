"""Test settings: the same real PostgreSQL and Redis, a database of the suite's own."""

from .base import *  # noqa: F401,F403
from .base import DATABASES, env

ENVIRONMENT = "test"
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only
# tests/conftest.py creates this database, loads the legacy DDL into it and migrates;
# both aliases point at it, as in production (core and enhancement side by side).
TEST_DATABASE_NAME = env("TEST_DATABASE_NAME", "backoffice_test")
for _alias in ("default", "core"):
    DATABASES[_alias]["NAME"] = TEST_DATABASE_NAME
    DATABASES[_alias]["CONN_MAX_AGE"] = 0
CELERY_TASK_ALWAYS_EAGER = False
# Deliveries in tests go to local receivers on loopback.
WEBHOOK_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8", "::1/128"]
