"""Start a real Celery worker (a subprocess) against the test database and Redis.

Tests using it must be `django_db(transaction=True)`: the worker is another process and
sees only committed rows.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def running_celery_worker(*, concurrency: int = 2, queues: str | None = None, timeout: float = 30.0):
    from settings.celery import app

    app.control.purge()
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="settings.test")
    log = tempfile.NamedTemporaryFile(prefix="celery-worker-", suffix=".log", delete=False)
    command = [sys.executable, "-m", "celery", "-A", "settings", "worker", "--loglevel", "INFO",
               "--concurrency", str(concurrency), "--without-gossip", "--without-mingle",
               "--hostname", f"test-{os.getpid()}-{time.monotonic_ns()}@%h"]  # fmt: skip
    if queues:
        command += ["--queues", queues]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"celery worker exited early:\n{Path(log.name).read_text()}")
            if " ready." in Path(log.name).read_text():
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"celery worker not ready after {timeout}s:\n{Path(log.name).read_text()}")
        proc.log_path = log.name  # type: ignore[attr-defined]
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        os.unlink(log.name)
