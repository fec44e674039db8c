"""Serve the core gateway simulator (integrations/core_gateway/simulator.py) in the foreground."""

from __future__ import annotations

import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from integrations.core_gateway.simulator import MODES, SimulatorServer, SimulatorState


class Command(BaseCommand):
    help = "Run a local simulator of the core gateway's refund API (applies refunds to the core tables)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--log", type=Path, default=Path(settings.BASE_DIR) / "var" / "core_gateway_simulator.jsonl",
                            help="JSON-lines log of every call (replayed on start for idempotency)")  # fmt: skip
        parser.add_argument("--callback-url", default=None,
                            help="where to post signed status callbacks, e.g. http://127.0.0.1:8000/api/v1/refunds/callbacks/core-gateway/")  # fmt: skip
        parser.add_argument("--mode", choices=sorted(MODES), default="ok", help="initial behaviour")

    def handle(self, *args, host, port, log, callback_url, mode, **options):
        log.parent.mkdir(parents=True, exist_ok=True)
        state = SimulatorState(api_key=settings.CORE_GATEWAY_API_KEY, log_path=log, callback_url=callback_url,
                               callback_secret=settings.CORE_CALLBACK_SECRET)  # fmt: skip
        state.behaviour.mode = mode
        server = SimulatorServer((host, port), state)
        sys.stderr.write(f"core gateway simulator on {server.url} (mode {mode}, log {log}); Ctrl-C to stop\n")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
