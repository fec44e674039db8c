"""Configuration from the environment; production refuses unsafe settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD = {"SECRET_KEY": "s" * 50, "FERNET_KEYS": "0" * 43 + "=", "DATABASE_URL": "postgres://u@db.example:5432/pay"}


def _import_production(**env):
    clean = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY", "FERNET_KEYS", "DATABASE_URL", "CORE_DATABASE_URL")}
    clean.update(env, DJANGO_SETTINGS_MODULE="settings.production")
    code = "import django; django.setup(); from django.conf import settings; print(settings.DATABASES['core']['OPTIONS']['options'])"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60)


def test_production_starts_with_safe_settings_and_a_read_only_core():
    result = _import_production(**GOOD)
    assert result.returncode == 0, result.stderr
    assert "default_transaction_read_only=on" in result.stdout


@pytest.mark.parametrize(
    "env, message",
    [
        ({**GOOD, "DEBUG": "1"}, "DEBUG on"),
        ({k: v for k, v in GOOD.items() if k != "SECRET_KEY"}, "real SECRET_KEY"),
        ({**GOOD, "SECRET_KEY": "insecure-dev-key-do-not-use-in-production"}, "real SECRET_KEY"),
        ({**GOOD, "CORE_DATABASE_URL": "postgres://u@db.example/pay?options=-c%20default_transaction_read_only%3Doff"},
         "core connection is not read-only"),
        ({k: v for k, v in GOOD.items() if k != "FERNET_KEYS"}, "FERNET_KEYS"),
    ],
    ids=["debug", "no-secret", "default-secret", "core-not-read-only", "no-fernet"],
)
def test_production_refuses_to_start(env, message):
    result = _import_production(**env)
    assert result.returncode != 0
    assert message in result.stderr


def test_manage_py_works_with_only_database_url(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CORE_DATABASE_URL", "DJANGO_SETTINGS_MODULE", "SECRET_KEY")}
    env["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/postgres"
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_core_url_defaults_to_the_database_url():
    from settings.databases import build_databases

    dbs = build_databases(database_url="postgres://a@h:5432/x", core_database_url="postgres://a@h:5432/x",
                          enhancement_schema="enh", core_schema="public")  # fmt: skip
    assert dbs["core"]["NAME"] == dbs["default"]["NAME"] == "x"
    assert "search_path=enh,public" in dbs["default"]["OPTIONS"]["options"]
    assert "default_transaction_read_only=on" in dbs["core"]["OPTIONS"]["options"]
    assert "read_only" not in dbs["default"]["OPTIONS"]["options"]
