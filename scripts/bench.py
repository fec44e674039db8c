#!/usr/bin/env python
"""Run one benchmark on a scratch database it creates and drops.

    python scripts/bench.py NAME [--size N]
    python scripts/bench.py --list

Each benchmark is scripts/bench/NAME.py with `DEFAULT_SIZE` and
`run(*, size: int, progress: Callable[[str], None]) -> dict`. Progress goes to stderr; the
last stdout line is one JSON object with the figures (ratios under keys ending `_ratio`).
Benchmarks compare against a baseline measured in the same run: absolute times on a
shared machine are noise. BENCH_KEEP_DATABASE=1 keeps the scratch database for inspection
(its name is printed; drop it by hand).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "scripts" / "bench"


def _reexec_in_venv() -> None:
    venv_python = ROOT / ".venv" / "bin" / "python"
    if venv_python.exists() and Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        os.execv(str(venv_python), [str(venv_python), *sys.argv])


def available() -> list[str]:
    return sorted(p.stem for p in BENCH_DIR.glob("*.py") if not p.stem.startswith("_"))


def progress(message: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def main() -> int:
    _reexec_in_venv()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", nargs="?")
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    if args.list or not args.name:
        print("\n".join(available()))
        return 0
    if args.name not in available():
        parser.error(f"unknown benchmark {args.name!r}; known: {', '.join(available())}")

    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "scripts" / "lib"))
    import services  # scripts/lib/services.py

    state = ROOT / "var" / f"services-bench-{os.getpid()}.json"
    scratch = f"bench_{args.name}_{os.getpid()}"
    exports = services.up_env(state, "postgres")
    base_url = exports["DATABASE_URL"]
    url = services.with_database(base_url, scratch)
    services.create_database(url)
    os.environ.update({"DATABASE_URL": url, "CORE_DATABASE_URL": url, "REDIS_URL": exports["REDIS_URL"], "DEBUG": "0"})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.local")
    try:
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        from core_legacy.fixture import load_core_schema
        from core_legacy.owner import core_owner_connection

        progress(f"scratch database {scratch}: loading legacy schema and migrating")
        with core_owner_connection() as conn:
            load_core_schema(conn, schema=settings.CORE_DB_SCHEMA)
        call_command("migrate", interactive=False, verbosity=0)

        spec = importlib.util.spec_from_file_location(f"bench_{args.name}", BENCH_DIR / f"{args.name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        size = args.size or module.DEFAULT_SIZE
        progress(f"running {args.name} (size {size:,})")
        started = time.perf_counter()
        figures = module.run(size=size, progress=progress)
        figures.setdefault("benchmark", args.name)
        figures.setdefault("size", size)
        figures["wall_s"] = round(time.perf_counter() - started, 2)
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            pass
        if os.environ.get("BENCH_KEEP_DATABASE") == "1":  # diagnostics: inspect the data afterwards
            progress(f"keeping {scratch} (BENCH_KEEP_DATABASE=1; drop it by hand)")
        else:
            progress(f"dropping {scratch}")
            services.drop_database(url)
        services.down(state)
    print(json.dumps(figures, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
