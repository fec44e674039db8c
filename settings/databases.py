"""Build the two database aliases from URLs.

`default` owns the enhancement tables, which live in their own PostgreSQL schema
(ENHANCEMENT_DB_SCHEMA, default "enh") so they never collide with a legacy table of
the same name (the real core already has a `transaction_recon_table`). `core` reads the
legacy tables in CORE_DB_SCHEMA (default "public") and every one of its sessions is
read-only (`default_transaction_read_only=on`); the router is the second lock.
"""

from __future__ import annotations

import dj_database_url

READ_ONLY_OPTION = "-c default_transaction_read_only=on"


def _with_options(config: dict, *extra: str) -> dict:
    options = dict(config.get("OPTIONS") or {})
    existing = options.get("options", "")
    options["options"] = " ".join(part for part in (existing, *extra) if part)
    config["OPTIONS"] = options
    return config


def _socket_host_to_host(config: dict) -> dict:
    """`postgresql://u@/db?host=/run/dir` (a Unix socket, as the embedded server gives)
    arrives in OPTIONS; Django and our own conninfo builders read HOST."""
    options = config.get("OPTIONS") or {}
    if not config.get("HOST") and options.get("host"):
        config["HOST"] = options.pop("host")
    if not config.get("PORT") and options.get("port"):
        config["PORT"] = options.pop("port")
    return config


def build_databases(
    *,
    database_url: str,
    core_database_url: str,
    enhancement_schema: str,
    core_schema: str,
    conn_max_age: int = 60,
) -> dict:
    default = _socket_host_to_host(dj_database_url.parse(database_url, conn_max_age=conn_max_age, conn_health_checks=True))
    # Enhancement tables are created in their own schema; `public` stays on the path
    # only so that extensions installed there keep working.
    _with_options(default, f"-c search_path={enhancement_schema},public")

    core = _socket_host_to_host(dj_database_url.parse(core_database_url, conn_max_age=conn_max_age, conn_health_checks=True))
    _with_options(core, f"-c search_path={core_schema}", READ_ONLY_OPTION)
    # Tests create no separate database for `core`: conftest points both aliases at one
    # prepared database (see tests/conftest.py), as production does.
    core["TEST"] = {"MIGRATE": False}
    return {"default": default, "core": core}


def core_options_are_read_only(core: dict) -> bool:
    """True when default_transaction_read_only is set, and every mention of it says on."""
    options = (core.get("OPTIONS") or {}).get("options", "")
    settings = [
        token.split("=", 1)[1].lower()
        for token in options.replace("-c ", "-c").split()
        if token.startswith("-cdefault_transaction_read_only=")
    ]
    return bool(settings) and all(value in ("on", "true", "1", "yes") for value in settings)
