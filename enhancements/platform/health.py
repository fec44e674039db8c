"""What /healthz reports: each dependency's state and version."""

from __future__ import annotations

import platform
import time

import celery
import django
import redis
from django.conf import settings
from django.db import connections


def _timed(fn):
    started = time.perf_counter()
    try:
        detail = fn()
        return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1), **detail}
    except Exception as exc:  # a health check reports failures, it does not raise them
        return {"ok": False, "ms": round((time.perf_counter() - started) * 1000, 1), "error": f"{type(exc).__name__}: {exc}"}


def _database(alias: str) -> dict:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version'), current_setting('transaction_read_only')")
        version, read_only = cursor.fetchone()
    return {"server_version": version, "read_only": read_only == "on"}


def _core() -> dict:
    detail = _database("core")
    if not detail["read_only"]:
        raise RuntimeError("core connection is not read-only")
    return detail


def _redis() -> dict:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
        return {"server_version": client.info("server").get("redis_version")}
    finally:
        client.close()


def health_report() -> dict:
    checks = {"default_db": _timed(lambda: _database("default")), "core_db": _timed(_core), "redis": _timed(_redis)}
    return {
        "status": "ok" if all(c["ok"] for c in checks.values()) else "degraded",
        "checks": checks,
        "versions": {
            "python": platform.python_version(),
            "django": django.get_version(),
            "celery": celery.__version__,
            "redis_py": redis.__version__,
        },
    }
