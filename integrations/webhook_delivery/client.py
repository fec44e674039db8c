"""Pooled keep-alive HTTP client for webhook deliveries, with the SSRF guard at connect time.

Each new connection resolves the host itself, checks EVERY resolved address with
`guard.refusal_reason` and then connects to one vetted address (not to the name), so DNS
rebinding between a check and the connect is impossible. TLS still verifies the
certificate against the host name. Redirects are never followed, no proxy is used, and
the response body read is bounded.

One `DeliveryClient` is shared by the threads of a delivery worker: urllib3's PoolManager
is thread-safe and keeps up to `connections_per_host` keep-alive connections per origin.
"""

from __future__ import annotations

import dataclasses
import email.utils
import socket
import time
from collections.abc import Iterable

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError, ReadTimeoutError
from urllib3.exceptions import HTTPError as Urllib3HTTPError
from urllib3.util import connection as urllib3_connection

from .guard import BlockedAddress, parse_networks, refusal_reason

USER_AGENT = "backoffice-webhooks/1"


@dataclasses.dataclass(frozen=True)
class DeliveryResult:
    status: int | None  # HTTP status, None when no response was received
    latency_ms: int
    error: str = ""  # empty on a received response
    body: str = ""  # response body, truncated
    retry_after_s: float | None = None  # parsed Retry-After header
    blocked: bool = False  # refused by the SSRF guard
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _guarded_connection_class(base: type[HTTPConnection], allowed: list) -> type[HTTPConnection]:
    class GuardedConnection(base):  # type: ignore[misc, valid-type]
        allowed_networks = allowed
        _coalesce = False
        _held: bytes | None = None

        # http.client writes the header block and urllib3 then the body with separate
        # sendall() calls: two syscalls and two wake-ups of the receiver per small webhook.
        # For a body given as bytes, hold the header block and send it with the body in one.
        def request(self, method, url, body=None, headers=None, **kwargs):
            self._coalesce, self._held = isinstance(body, bytes) and bool(body), None
            try:
                super().request(method, url, body=body, headers=headers, **kwargs)
                if self._held is not None:  # no body write came (cannot happen for non-empty bytes)
                    held, self._held = self._held, None
                    super().send(held)
            finally:
                self._coalesce, self._held = False, None

        def send(self, data):
            if self._coalesce and isinstance(data, bytes):
                if self._held is None:
                    self._held = data  # the header block: wait for the body
                    return
                data, self._held, self._coalesce = self._held + data, None, False
            super().send(data)

        def _new_conn(self) -> socket.socket:
            try:
                infos = socket.getaddrinfo(self._dns_host, self.port, 0, socket.SOCK_STREAM)
            except socket.gaierror as exc:
                raise NameResolutionError(self.host, self, exc) from exc
            addresses = list(dict.fromkeys(info[4][0] for info in infos))
            # Every answer must be acceptable: a name that also resolves to a private
            # address is refused outright rather than raced.
            reasons = [r for r in (refusal_reason(a, self.allowed_networks) for a in addresses) if r]
            if reasons or not addresses:
                raise BlockedAddress(f"{self.host} resolves to a refused address: {'; '.join(reasons) or 'no address'}")
            last_error: OSError | None = None
            for address in addresses:
                try:
                    return urllib3_connection.create_connection(
                        (address, self.port), self.timeout, source_address=self.source_address, socket_options=self.socket_options
                    )
                except TimeoutError as exc:
                    raise ConnectTimeoutError(self, f"connection to {self.host} ({address}) timed out") from exc
                except OSError as exc:
                    last_error = exc
            raise NewConnectionError(self, f"failed to connect to {self.host}: {last_error}")

    GuardedConnection.__name__ = f"Guarded{base.__name__}"
    return GuardedConnection


class DeliveryClient:
    def __init__(self, *, allowed_networks: Iterable[str] = (), connections_per_host: int = 16, response_body_limit: int = 2048):
        allowed = parse_networks(allowed_networks)
        http_pool = type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": _guarded_connection_class(HTTPConnection, allowed)})
        https_pool = type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": _guarded_connection_class(HTTPSConnection, allowed)})
        self.response_body_limit = response_body_limit
        self._pool = urllib3.PoolManager(num_pools=256, maxsize=connections_per_host, block=False, retries=False)
        self._pool.pool_classes_by_scheme = {"http": http_pool, "https": https_pool}

    def post(self, url: str, *, body: bytes, headers: dict[str, str], timeout_s: float) -> DeliveryResult:
        started = time.perf_counter()
        headers = {"content-type": "application/json", "user-agent": USER_AGENT, **headers}
        try:
            response = self._pool.request(
                "POST", url, body=body, headers=headers, redirect=False, retries=False,
                timeout=urllib3.Timeout(total=timeout_s), preload_content=False,
            )  # fmt: skip
        except BlockedAddress as exc:
            return DeliveryResult(None, _ms(started), error=f"blocked: {exc}", blocked=True)
        except (ConnectTimeoutError, ReadTimeoutError, TimeoutError) as exc:
            return DeliveryResult(None, _ms(started), error=f"timeout after {timeout_s:g}s: {exc}", timed_out=True)
        except (Urllib3HTTPError, OSError, ValueError) as exc:
            return DeliveryResult(None, _ms(started), error=f"{type(exc).__name__}: {exc}")
        try:
            try:
                data = response.read(self.response_body_limit + 1)
            except (ReadTimeoutError, TimeoutError) as exc:
                response.close()
                return DeliveryResult(response.status, _ms(started), error=f"timeout reading response: {exc}", timed_out=True)
            except (Urllib3HTTPError, OSError) as exc:
                response.close()
                data = f"<unreadable response body: {exc}>".encode()
            if len(data) > self.response_body_limit:
                response.close()  # don't drain an unbounded body; this connection is discarded
                data = data[: self.response_body_limit]
            return DeliveryResult(
                response.status, _ms(started), body=data.decode("utf-8", "replace").replace("\x00", "\ufffd"),  # PG text has no NUL
                retry_after_s=parse_retry_after(response.headers.get("retry-after")),
            )  # fmt: skip
        finally:
            response.release_conn()

    def close(self) -> None:
        self._pool.clear()


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
