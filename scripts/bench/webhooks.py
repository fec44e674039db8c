"""webhooks: end-to-end delivery throughput and commit-to-receipt latency.

Everything real: events are published into the outbox in committed transactions, a real
Celery worker (own process group, own redis-server on a free port) fans them out and
delivers them signed over HTTP to a local receiver on 127.0.0.1 (an asyncio HTTP/1.1
server with keep-alive in its own process, answering 200 at once).

Figures:
  deliveries_per_s         `size` events published as fast as possible; received / (last
                           receipt - first publish)
  raw_http_per_s           a plain single-process, single-threaded HTTP client loop (urllib3,
                           one keep-alive connection, checked) posting same-sized bodies to
                           the same receiver in this run; mean of a run before the throughput
                           phase and one right after it
  raw_to_delivery_ratio    deliveries_per_s / raw_http_per_s (goal >= 0.5)
  p99_commit_to_receive_s  events committed one per transaction at 200/s; p99 of receipt
                           time - commit time (goal <= 1 s)

Helpers here (receiver, own Redis, worker process) are reused by webhooks_chaos.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

DEFAULT_SIZE = 20_000
ROOT = Path(__file__).resolve().parents[2]
LATENCY_RATE = 200  # events per second
LATENCY_SECONDS = 15
LATENCY_PER_TXN = 10  # 20 commits/s of 10 events, like a producer's set-based batch


# --- receiver (runs in its own process: python webhooks.py receive PORT OUTFILE) -------------


def _receiver_main(port: int, outfile: str) -> None:
    received: list[tuple[str, float]] = []
    reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"

    class Protocol(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport
            self.buffer = b""

        def data_received(self, data):
            self.buffer += data
            while True:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buffer[:end].decode("latin-1")
                lines = head.split("\r\n")
                headers = {}
                for line in lines[1:]:
                    key, _, value = line.partition(":")
                    headers[key.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                if len(self.buffer) < end + 4 + length:
                    return
                self.buffer = self.buffer[end + 4 + length :]
                if lines[0].startswith("GET /stats"):
                    unique = len({m for m, _ in received})
                    body = json.dumps({"total": len(received), "unique": unique}).encode()
                    self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
                    continue
                received.append((headers.get("webhook-id", ""), time.time()))
                self.transport.write(reply)

    async def main():
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        loop.add_signal_handler(signal.SIGTERM, lambda: stop.done() or stop.set_result(None))
        server = await loop.create_server(Protocol, "127.0.0.1", port, backlog=1024, reuse_address=True)
        print("ready", flush=True)
        await stop
        server.close()
        Path(outfile).write_text("\n".join(f"{m} {t:.6f}" for m, t in received))

    asyncio.run(main())


class Receiver:
    def __init__(self):
        self.port = free_port()
        self.outfile = tempfile.NamedTemporaryFile(prefix="webhook-receiver-", suffix=".txt", delete=False).name
        self.proc = subprocess.Popen([sys.executable, __file__, "receive", str(self.port), self.outfile], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"
        self.url = f"http://127.0.0.1:{self.port}/hooks"

    def stats(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=10) as r:
            return json.loads(r.read())

    def stop(self) -> list[tuple[str, float]]:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        lines = Path(self.outfile).read_text().splitlines()
        os.unlink(self.outfile)
        return [(m, float(t)) for m, t in (line.split(" ") for line in lines if line)]


# --- infrastructure ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnRedis:
    """A private redis-server (never the system one): the bench's broker and cache."""

    def __init__(self):
        import shutil

        self.binary = shutil.which("redis-server")
        if not self.binary:
            raise SystemExit("redis-server not found on PATH")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="bench-redis-")
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                      "--dir", self.dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return
            time.sleep(0.05)
        raise RuntimeError("own redis-server did not start")

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)

    def close(self) -> None:
        import shutil

        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def restart(self) -> None:
        self.stop(signal.SIGKILL)  # a crash: the broker queue is lost with it
        self.start()


def _child_env(redis_url: str) -> dict:
    return dict(os.environ, REDIS_URL=redis_url, CELERY_BROKER_URL=redis_url, PYTHONUNBUFFERED="1")


class CeleryProcess:
    """`celery worker` or `celery beat` in its own process group (so SIGKILL takes it all)."""

    def __init__(self, kind: str, redis_url: str, *, concurrency: int = 2):
        self.kind, self.redis_url, self.concurrency = kind, redis_url, concurrency
        self.log = tempfile.NamedTemporaryFile(prefix=f"bench-celery-{kind}-", suffix=".log", delete=False)
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        if self.kind == "worker":
            args = ["worker", "--loglevel", "INFO", "--concurrency", str(self.concurrency), "--without-gossip", "--without-mingle",
                    "--without-heartbeat", "--queues", "webhooks", "--hostname", f"bench-{os.getpid()}-{time.monotonic_ns()}@%h"]  # fmt: skip
        else:
            args = ["beat", "--loglevel", "WARNING", "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
                    "--pidfile", "", "--schedule", self.log.name + ".db"]  # fmt: skip
        self.proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "settings", *args], cwd=ROOT, env=_child_env(self.redis_url),
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        if self.kind == "worker":
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(Path(self.log.name).read_text())
                if " ready." in Path(self.log.name).read_text():
                    break
                time.sleep(0.2)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        for path in (self.log.name, self.log.name + ".db"):
            with contextlib.suppress(OSError):
                os.unlink(path)


@contextlib.contextmanager
def use_redis(url: str):
    """Point this process's cache and Celery producer at `url` (kicks on commit go there)."""
    from django.conf import settings
    from django.test.utils import override_settings

    from settings.celery import app

    caches = {"default": {**settings.CACHES["default"], "LOCATION": url}}
    app.conf.broker_url = url
    app._pool = None  # as celery does after fork: a fresh broker pool for the new URL
    with contextlib.suppress(AttributeError, KeyError):
        app.__dict__["amqp"]._producer_pool = None
    with override_settings(CACHES=caches, CELERY_BROKER_URL=url, WEBHOOK_ALLOWED_PRIVATE_NETWORKS=["127.0.0.0/8"]):
        yield


def make_endpoints(url: str, *, merchants: int, timeout_s: float = 5.0) -> list[tuple[int, str]]:
    from enhancements.webhooks import services

    clients = []
    for i in range(merchants):
        client_id, code = 900_000 + i, f"BENCH{i:03d}"
        services.endpoint_create(client_id=client_id, client_code=code, url=url, event_types=["payment.*", "refund.*"], timeout_s=timeout_s)
        clients.append((client_id, code))
    return clients


def publish_events(clients, *, start: int, count: int, prefix: str) -> None:
    """One committed transaction publishing `count` events (payload like the change feed's)."""
    from django.db import transaction
    from django.utils import timezone

    from enhancements.events.outbox import NewEvent, publish_many

    now = timezone.now()
    events = []
    for n in range(start, start + count):
        client_id, code = clients[n % len(clients)]
        txn = f"{prefix}{n:09d}"
        payload = {"client_id": client_id, "client_code": code, "txn_id": txn, "amount": "1499.00", "currency": "INR",
                   "status": "success", "payment_mode": "UPI", "occurred_at": now.isoformat()}  # fmt: skip
        events.append(NewEvent(f"{prefix}:{n}", "payment.succeeded", payload, now, client_id, code, txn))
    with transaction.atomic():
        publish_many(events)


def msg_ids_for(prefix: str) -> dict[str, str]:
    """event_key -> webhook-id for the events published under prefix."""
    from enhancements.events.models import OutboxEvent

    return {key: f"msg_{eid.hex}" for key, eid in OutboxEvent.objects.filter(event_key__startswith=f"{prefix}:").values_list("event_key", "id")}


def wait_for(receiver: Receiver, expected: int, *, timeout: float, progress, label: str) -> dict:
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        stats = receiver.stats()
        if stats["unique"] >= expected:
            return stats
        if stats["unique"] != last and int(time.monotonic()) % 5 == 0:
            progress(f"{label}: {stats['unique']:,}/{expected:,} received")
            last = stats["unique"]
        time.sleep(0.2)
    return receiver.stats()


def raw_http_rate(url: str, *, n: int, body: bytes, tag: str = "raw") -> float:
    """The baseline: one process, one thread, ONE keep-alive connection (urllib3, the library
    the delivery client uses), posting the same-sized JSON body with a webhook-id header and
    reading each 200 before the next request. No signing, no database. A warm-up request
    opens the connection first, so connection setup is not counted; the loop then asserts it
    never had to open another one (a fair loop is a keep-alive loop)."""
    import urllib3

    pool = urllib3.PoolManager(maxsize=1, block=True)
    headers = {"content-type": "application/json"}
    assert pool.request("POST", url, body=body, headers={**headers, "webhook-id": f"{tag}_warmup"}, retries=False).status == 200
    connection_pool = pool.connection_from_url(url)
    opened = connection_pool.num_connections
    started = time.perf_counter()
    for i in range(n):
        r = pool.request("POST", url, body=body, headers={**headers, "webhook-id": f"{tag}_{i}"}, retries=False)
        assert r.status == 200
    rate = n / (time.perf_counter() - started)
    assert connection_pool.num_connections == opened, "the raw loop lost keep-alive"
    pool.clear()
    return rate


# --- the benchmark ------------------------------------------------------------------------------


def run(*, size: int, progress) -> dict:
    redis = OwnRedis()
    receiver = Receiver()
    worker = None
    try:
        with use_redis(redis.url):
            clients = make_endpoints(receiver.url, merchants=10)
            sample = json.dumps({"type": "payment.succeeded", "timestamp": dt.datetime.now(dt.UTC).isoformat(),
                                 "data": {"client_id": 900000, "client_code": "BENCH000", "txn_id": "B000000001", "amount": "1499.00",
                                          "currency": "INR", "status": "success", "payment_mode": "UPI",
                                          "occurred_at": dt.datetime.now(dt.UTC).isoformat()}}).encode()  # fmt: skip
            raw_n = min(size, 5000)
            progress(f"raw baseline: {raw_n:,} POSTs from a plain single-threaded keep-alive client loop")
            raw_before = raw_http_rate(receiver.url, n=raw_n, body=sample, tag="rawA")
            progress(f"raw: {raw_before:,.0f}/s; starting a Celery worker (concurrency 2) on own redis {redis.url}")
            worker = CeleryProcess("worker", redis.url)
            before = receiver.stats()["unique"]  # the raw loop's requests

            progress(f"throughput: publishing {size:,} events")
            started = time.time()
            chunk = 1000
            for offset in range(0, size, chunk):
                publish_events(clients, start=offset, count=min(chunk, size - offset), prefix="T")
            progress(f"published in {time.time() - started:.1f}s; waiting for delivery")
            stats = wait_for(receiver, before + size, timeout=max(120, size / 50), progress=progress, label="throughput")
            # The machine is shared: the baseline is measured again right after the throughput
            # phase (the worker idle) and the mean of both is the reference.
            raw_after = raw_http_rate(receiver.url, n=raw_n, body=sample, tag="rawB")
            raw_rate = (raw_before + raw_after) / 2
            progress(f"raw again: {raw_after:,.0f}/s")
            stats = receiver.stats()

            progress(f"latency: {LATENCY_RATE} events/s for {LATENCY_SECONDS}s ({LATENCY_PER_TXN} per transaction)")
            n_latency = LATENCY_RATE * LATENCY_SECONDS
            commit_times: dict[str, float] = {}
            t0 = time.monotonic()
            for i in range(0, n_latency, LATENCY_PER_TXN):
                delay = t0 + i / LATENCY_RATE - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                publish_events(clients, start=i, count=LATENCY_PER_TXN, prefix="L")
                committed = time.time()
                commit_times.update((f"L:{n}", committed) for n in range(i, i + LATENCY_PER_TXN))
            achieved = n_latency / (time.monotonic() - t0)
            wait_for(receiver, stats["unique"] + n_latency, timeout=60, progress=progress, label="latency")
            keys = msg_ids_for("L")
    finally:
        if worker:
            worker.stop()
        received = receiver.stop()
        redis.close()

    first_seen: dict[str, float] = {}
    for msg_id, t in received:
        first_seen.setdefault(msg_id, t)
    throughput_ids = set(msg_ids_for("T").values())
    t_times = [first_seen[m] for m in throughput_ids if m in first_seen]
    delivered = len(t_times)
    rate = delivered / (max(t_times) - started) if t_times else 0.0
    latencies = sorted(first_seen[keys[k]] - commit_times[k] for k in commit_times if keys.get(k) in first_seen)
    p = lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 3) if latencies else None  # noqa: E731
    return {
        "events": size,
        "delivered": delivered,
        "deliveries_per_s": round(rate),
        "raw_http_per_s": round(raw_rate),
        "raw_http_before_after_per_s": [round(raw_before), round(raw_after)],
        "raw_to_delivery_ratio": round(rate / raw_rate, 2),
        "latency_events": n_latency,
        "latency_publish_rate_per_s": round(achieved),
        "latency_received": len(latencies),
        "p50_commit_to_receive_s": p(0.5),
        "p99_commit_to_receive_s": p(0.99),
        "max_commit_to_receive_s": round(latencies[-1], 3) if latencies else None,
    }


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "receive":
    _receiver_main(int(sys.argv[2]), sys.argv[3])
