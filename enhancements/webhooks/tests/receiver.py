"""A real HTTP receiver on 127.0.0.1 for tests: records requests, answers from a script."""

from __future__ import annotations

import collections
import dataclasses
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclasses.dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    def __init__(self):
        self.requests: list[Received] = []
        self.responses: collections.deque = collections.deque()  # (status, headers, body)
        self.default = (200, {}, b"ok")
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with receiver.lock:
                    receiver.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    status, headers, reply = receiver.responses.popleft() if receiver.responses else receiver.default
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def respond(self, *responses):
        for r in responses:
            self.responses.append(r if isinstance(r, tuple) else (r, {}, b""))

    def close(self):
        self.server.shutdown()
        self.server.server_close()
