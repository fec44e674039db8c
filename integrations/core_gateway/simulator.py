"""A local HTTP server that plays the core gateway's refund API (demo and tests only).

It applies refunds to the core tables the way the core does, through the core owner
connection (the only writable one): `transaction_detail` refund columns and status
(0600 REFUND_INITIATED -> 0700 REFUNDED) and a `refund_request_from_client` row (the
core's own request row is updated when the back office passes `core_refund_id`).

Idempotent on the Idempotency-Key: the same key answers the stored result and never
applies twice; the same key with a different body is a 409.

Operators of the simulator (tests, demos) steer it through `/_sim/...`:
    POST /_sim/behaviour {"mode": ..., "delay_s": 1.5, "times": 2}
        ok       apply and answer (default)
        slow     wait delay_s, then apply and answer
        timeout  apply, then wait delay_s before answering (the client times out: the
                 refund exists but the caller does not know)
        hang     wait delay_s, answer 503 without applying
        fail     answer 500 without applying
        decline  answer 200 FAILED (a business refusal, e.g. the bank declined)
        pending  apply as REFUND_INITIATED (0600) and answer PENDING; complete later with
                 POST /_sim/refunds/<key>/complete {"status": "COMPLETED"|"FAILED"}
        `times` limits how many refund calls the mode applies to (then back to ok).
    GET  /_sim/calls      every call received (also appended to --log as JSON lines)
    POST /_sim/reset      behaviour ok, call log and idempotency memory cleared

The idempotency memory is this process's (replayed from --log on start when given): run
one simulator process per core database.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import threading
import time
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from .signing import signed_headers

log = logging.getLogger(__name__)

MODES = {"ok", "slow", "timeout", "hang", "fail", "decline", "pending"}
PAISA = Decimal("0.01")


@dataclasses.dataclass
class Behaviour:
    mode: str = "ok"
    delay_s: float = 0.0
    times: int | None = None  # None: until changed


class SimulatorState:
    def __init__(self, *, api_key: str, log_path: Path | None = None, callback_url: str | None = None,
                 callback_secret: str | None = None) -> None:  # fmt: skip
        self.api_key = api_key
        self.log_path = log_path
        self.callback_url = callback_url
        self.callback_secret = callback_secret
        self.behaviour = Behaviour()
        self.calls: list[dict] = []
        self.refunds: dict[str, dict] = {}  # idempotency key -> record
        self.lock = threading.RLock()  # serialises applying refunds (one core writer)
        if log_path and log_path.exists():
            for line in log_path.read_text().splitlines():
                entry = json.loads(line)
                if entry.get("record"):
                    self.refunds[entry["record"]["idempotency_key"]] = entry["record"]

    def take_mode(self) -> Behaviour:
        with self.lock:
            current = dataclasses.replace(self.behaviour)
            if self.behaviour.times is not None:
                self.behaviour.times -= 1
                if self.behaviour.times <= 0:
                    self.behaviour = Behaviour()
            return current

    def record_call(self, entry: dict) -> None:
        with self.lock:
            self.calls.append(entry)
            if self.log_path:
                with self.log_path.open("a") as fh:
                    fh.write(json.dumps(entry, default=str) + "\n")

    def reset(self) -> None:
        with self.lock:
            self.behaviour = Behaviour()
            self.calls.clear()
            self.refunds.clear()


def gateway_refund_id(key: str) -> str:
    return "CGR" + hashlib.sha256(key.encode()).hexdigest()[:24].upper()


def _now_ist() -> dt.datetime:
    from core_legacy.fields import to_core_naive

    return to_core_naive(dt.datetime.now(dt.UTC))


class CoreRefundError(Exception):
    pass


def _apply_in_core(*, txn_id: str, amount: Decimal, reason: str, gw_id: str, core_refund_id: int | None,
                   completed: bool) -> None:  # fmt: skip
    """Write the refund into the core tables as the core would (one transaction)."""
    from core_legacy.owner import core_owner_connection

    now = _now_ist()
    with core_owner_connection() as conn, conn.transaction():
        row = conn.execute(
            "SELECT trans_date, paid_amount, refunded_amount, refund_amount, client_code, client_id, client_txn_id "
            "FROM transaction_detail WHERE txn_id = %s ORDER BY trans_date DESC LIMIT 1 FOR UPDATE",
            [txn_id],
        ).fetchone()
        if row is None:
            raise CoreRefundError(f"transaction {txn_id} does not exist in the core")
        trans_date, paid, refunded, initiated, client_code, client_id, client_txn_id = row
        already = max(Decimal(repr(refunded or 0.0)), Decimal(repr(initiated or 0.0))).quantize(PAISA)
        if amount > Decimal(repr(paid or 0.0)).quantize(PAISA) - already:
            raise CoreRefundError(f"amount {amount} exceeds the refundable balance of {txn_id}")
        new_total = float(already + amount)
        if completed:
            conn.execute(
                "UPDATE transaction_detail SET refunded_amount = %s, refund_amount = %s, status = 'REFUNDED', "
                "sabpaisa_resp_code = '0700', refund_status_code = '0700', refunded_date = %s, refund_process_on = %s, "
                "refund_initiated_on = coalesce(refund_initiated_on, %s), refund_date = %s, refund_track_id = %s, "
                "refund_reason = %s, refund_message = 'Refunded' WHERE txn_id = %s AND trans_date = %s",
                [new_total, new_total, now, now, now, now.strftime("%Y-%m-%d %H:%M:%S"), gw_id, reason[:200], txn_id, trans_date],
            )
        else:
            conn.execute(
                "UPDATE transaction_detail SET refund_amount = %s, status = 'REFUND_INITIATED', sabpaisa_resp_code = '0600', "
                "refund_status_code = '0600', refund_initiated_on = %s, refund_track_id = %s, refund_reason = %s, "
                "refund_message = 'Refund initiated' WHERE txn_id = %s AND trans_date = %s",
                [new_total, now, gw_id, reason[:200], txn_id, trans_date],
            )
        complete_date, bank_ref = (now, gw_id) if completed else (None, None)
        updated = 0
        if core_refund_id is not None:
            updated = conn.execute(
                "UPDATE refund_request_from_client SET sp_txn_id = %s, refund_init_date = coalesce(refund_init_date, %s), "
                "refund_complete_date = %s, refunded_bank_ref_id = %s WHERE refund_id = %s",
                [txn_id, now, complete_date, bank_ref, core_refund_id],
            ).rowcount
        if not updated:
            conn.execute("LOCK TABLE refund_request_from_client IN SHARE ROW EXCLUSIVE MODE")
            conn.execute(
                "INSERT INTO refund_request_from_client (refund_id, amount, client_code, client_id, client_txn_id, message, "
                "refund_init_date, refund_complete_date, sp_txn_id, refunded_bank_ref_id) "
                "SELECT coalesce(max(refund_id), 0) + 1, %s, %s, %s, %s, %s, %s, %s, %s, %s FROM refund_request_from_client",
                [str(amount), client_code, str(client_id) if client_id is not None else None, client_txn_id,
                 f"[{gw_id}] {reason}"[:500], now, complete_date, txn_id, bank_ref],
            )  # fmt: skip


def _complete_in_core(*, record: dict, status: str) -> None:
    """A PENDING refund concludes: 0600 -> 0700 (or the initiated amount is released)."""
    from core_legacy.owner import core_owner_connection

    now = _now_ist()
    amount = Decimal(record["amount"])
    with core_owner_connection() as conn, conn.transaction():
        row = conn.execute(
            "SELECT trans_date, refunded_amount, refund_amount FROM transaction_detail WHERE txn_id = %s "
            "ORDER BY trans_date DESC LIMIT 1 FOR UPDATE",
            [record["txn_id"]],
        ).fetchone()
        trans_date, refunded, initiated = row
        refunded_d = Decimal(repr(refunded or 0.0)).quantize(PAISA)
        if status == "COMPLETED":
            conn.execute(
                "UPDATE transaction_detail SET refunded_amount = %s, status = 'REFUNDED', sabpaisa_resp_code = '0700', "
                "refund_status_code = '0700', refunded_date = %s, refund_process_on = %s, refund_date = %s "
                "WHERE txn_id = %s AND trans_date = %s",
                [float(refunded_d + amount), now, now, now.strftime("%Y-%m-%d %H:%M:%S"), record["txn_id"], trans_date],
            )
            conn.execute(
                "UPDATE refund_request_from_client SET refund_complete_date = %s, refunded_bank_ref_id = %s "
                "WHERE sp_txn_id = %s AND message LIKE %s || '%%' OR refund_id = %s",
                [now, record["gateway_refund_id"], record["txn_id"], f"[{record['gateway_refund_id']}]",
                 record.get("core_refund_id") or -1],
            )  # fmt: skip
        else:
            released = Decimal(repr(initiated or 0.0)).quantize(PAISA) - amount
            conn.execute(
                "UPDATE transaction_detail SET refund_amount = %s, refund_status_code = '0300', refund_message = 'Refund failed' "
                "WHERE txn_id = %s AND trans_date = %s",
                [float(max(released, refunded_d)), record["txn_id"], trans_date],
            )


class _Handler(BaseHTTPRequestHandler):
    server: SimulatorServer
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # route through logging, not stderr noise
        log.debug("simulator: " + fmt, *args)

    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout mode)
            pass

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw or b"{}")

    def do_GET(self):  # noqa: N802
        state = self.server.state
        if self.path == "/_sim/calls":
            with state.lock:
                return self._send(200, {"calls": list(state.calls)})
        if self.path.startswith("/v1/refunds/"):
            if self.headers.get("X-Api-Key") != state.api_key:
                return self._send(401, {"error": "bad api key"})
            key = self.path.rsplit("/", 1)[1]
            with state.lock:
                record = state.refunds.get(key)
            state.record_call({"at": time.time(), "method": "GET", "path": self.path, "idempotency_key": key,
                               "outcome": record["status"] if record else "NOT_FOUND"})  # fmt: skip
            return self._send(200, record) if record else self._send(404, {"status": "NOT_FOUND", "idempotency_key": key})
        return self._send(404, {"error": f"no route {self.path}"})

    def do_POST(self):  # noqa: N802
        state = self.server.state
        try:
            body = self._body()
        except ValueError:
            return self._send(400, {"error": "body is not JSON"})
        if self.path == "/_sim/behaviour":
            mode = body.get("mode", "ok")
            if mode not in MODES:
                return self._send(400, {"error": f"mode must be one of {sorted(MODES)}"})
            with state.lock:
                state.behaviour = Behaviour(mode, float(body.get("delay_s", 0)), body.get("times"))
            return self._send(200, dataclasses.asdict(state.behaviour))
        if self.path == "/_sim/reset":
            state.reset()
            return self._send(200, {"reset": True})
        if self.path.startswith("/_sim/refunds/") and self.path.endswith("/complete"):
            return self._complete(self.path.split("/")[3], body.get("status", "COMPLETED"))
        if self.path == "/v1/refunds":
            return self._refund(body)
        return self._send(404, {"error": f"no route {self.path}"})

    def _refund(self, body: dict) -> None:
        state = self.server.state
        key = self.headers.get("Idempotency-Key") or ""
        behaviour = state.take_mode()
        call = {"at": time.time(), "method": "POST", "path": self.path, "idempotency_key": key, "body": body,
                "mode": behaviour.mode}  # fmt: skip
        if self.headers.get("X-Api-Key") != state.api_key:
            state.record_call({**call, "outcome": "401"})
            return self._send(401, {"error": "bad api key"})
        try:
            txn_id = str(body["txn_id"])
            amount = Decimal(str(body["amount"]))
            reason = str(body.get("reason") or "")
            core_refund_id = body.get("core_refund_id")
            if not key or amount <= 0 or amount != amount.quantize(PAISA):
                raise ValueError
        except (KeyError, ValueError, InvalidOperation):
            state.record_call({**call, "outcome": "400"})
            return self._send(400, {"error": "need Idempotency-Key header, txn_id and a positive amount in paise"})
        if behaviour.mode == "fail":
            state.record_call({**call, "outcome": "500"})
            return self._send(500, {"error": "simulated core failure"})
        if behaviour.mode == "hang":
            time.sleep(behaviour.delay_s)
            state.record_call({**call, "outcome": "503"})
            return self._send(503, {"error": "simulated core overload"})
        if behaviour.mode == "slow":
            time.sleep(behaviour.delay_s)
        with state.lock:
            record = state.refunds.get(key)
            if record is not None:
                if record["txn_id"] != txn_id or Decimal(record["amount"]) != amount:
                    state.record_call({**call, "outcome": "409"})
                    return self._send(409, {"error": "Idempotency-Key reused with a different refund"})
                outcome = "replayed"
            else:
                record = {"idempotency_key": key, "gateway_refund_id": gateway_refund_id(key), "txn_id": txn_id,
                          "amount": str(amount), "core_refund_id": core_refund_id, "message": ""}  # fmt: skip
                if behaviour.mode == "decline":
                    record.update(status="FAILED", message="declined by the issuing bank (simulated)")
                else:
                    try:
                        _apply_in_core(txn_id=txn_id, amount=amount, reason=reason, gw_id=record["gateway_refund_id"],
                                       core_refund_id=core_refund_id, completed=behaviour.mode != "pending")  # fmt: skip
                        record.update(status="PENDING" if behaviour.mode == "pending" else "COMPLETED", message="accepted")
                    except CoreRefundError as exc:
                        record.update(status="FAILED", message=str(exc))
                state.refunds[key] = record
                outcome = "applied" if record["status"] != "FAILED" else "failed"
            state.record_call({**call, "outcome": outcome, "record": record})
        if behaviour.mode == "timeout":
            time.sleep(behaviour.delay_s)
        return self._send(200, record)

    def _complete(self, key: str, status: str) -> None:
        state = self.server.state
        if status not in ("COMPLETED", "FAILED"):
            return self._send(400, {"error": "status must be COMPLETED or FAILED"})
        with state.lock:
            record = state.refunds.get(key)
            if record is None or record["status"] != "PENDING":
                return self._send(409, {"error": f"no PENDING refund under {key}"})
            _complete_in_core(record=record, status=status)
            record.update(status=status, message="completed" if status == "COMPLETED" else "failed at the bank")
            state.record_call({"at": time.time(), "method": "POST", "path": self.path, "idempotency_key": key,
                               "outcome": status, "record": record})  # fmt: skip
        callback = self._post_callback(record)
        return self._send(200, {**record, "callback": callback})

    def _post_callback(self, record: dict) -> str | None:
        """Tell the back office, as the real gateway does, with a signed callback."""
        state = self.server.state
        if not state.callback_url or not state.callback_secret:
            return None
        payload = {"event_id": f"sim-{record['gateway_refund_id']}-{record['status']}", "type": "refund.status", **record}
        raw = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", **signed_headers(secret=state.callback_secret, body=raw)}
        try:
            response = requests.post(state.callback_url, data=raw, headers=headers, timeout=5)
            return f"HTTP {response.status_code}"
        except requests.RequestException as exc:
            return f"error: {exc}"


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, state: SimulatorState):
        super().__init__(address, _Handler)
        self.state = state

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


def start_simulator(*, host: str = "127.0.0.1", port: int = 0, api_key: str, log_path: Path | None = None,
                    callback_url: str | None = None, callback_secret: str | None = None) -> SimulatorServer:  # fmt: skip
    """Serve in a background thread (tests); `server.shutdown()` stops it."""
    server = SimulatorServer((host, port), SimulatorState(api_key=api_key, log_path=log_path, callback_url=callback_url,
                                                          callback_secret=callback_secret))  # fmt: skip
    threading.Thread(target=server.serve_forever, name="core-gateway-simulator", daemon=True).start()
    return server
