"""reconciliation: import a settlement file and reconcile it against the core, at scale.

Seeds `size` core transactions, writes a settlement file with one line per transaction
(gateway-fee-plus-tax profile: amount, service charge, tax, net, date, status) and injects
2% anomalies spread over every mismatch type, remembering the ground truth:

  AMOUNT (amount off, net right), DATE (5 days late; rule drift 2), STATUS (paid vs
  failed disagree, both ways), FEE (net short of the expected net), MISSING_IN_SYSTEM
  (a line for no core transaction), MISSING_IN_BANK (a paid transaction left out),
  DUPLICATE (a line repeated).

Timed: import (hash, parse, COPY into staging) + the reconciliation run with the default
rules. The limit, measured in the same run after it: a plain server-side COPY of the
same file into an unindexed table plus one hash join of it with transaction_detail on the
reference column. Keys: rows, to_limit_ratio (goal <= 3), misclassified (0), missed (0),
peak_rss_mb.

Diagnostics: RECON_BENCH_SLOW_S (default 1) prints the import's and the run's statements
slower than that; RECON_BENCH_EXPLAIN=1 prints the EXPLAIN (ANALYZE, BUFFERS) of every INSERT
and CREATE TABLE ... AS SELECT, rolled back to a savepoint before the statement itself runs
(slows the run; not for the ratio); RECON_BENCH_KEEP_FILE=PATH keeps the generated file there
(with scripts/bench.py's BENCH_KEEP_DATABASE=1, re-time steps against the kept database).
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import random
import resource
import tempfile
import time
from decimal import ROUND_HALF_UP, Decimal

DEFAULT_SIZE = 1_000_000
ANOMALY_SHARE = 0.02
TYPES = ("AMOUNT", "DATE", "STATUS", "FEE", "MISSING_IN_SYSTEM", "MISSING_IN_BANK", "DUPLICATE")
HEADER = ["Order Id", "Reference Id", "Transaction Amount", "Service Charge", "Service Tax", "Settlement Amount",
          "UTR", "Transaction Time", "Payment Mode", "Transaction Status"]  # fmt: skip
PAISA = Decimal("0.01")
# Statements of the run slower than this are printed (where the time goes); lower it for small sizes.
SLOW_S = float(os.environ.get("RECON_BENCH_SLOW_S", "1"))
EXPLAIN = os.environ.get("RECON_BENCH_EXPLAIN") == "1"
PAID = {"SUCCESS", "SETTLED", "REFUND_INITIATED", "REFUNDED"}


def _money(value) -> Decimal:
    return Decimal(repr(float(value or 0.0))).quantize(PAISA, rounding=ROUND_HALF_UP)


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def write_file(conn, path: str, *, size: int, seed: int, progress) -> dict[str, set]:
    """One line per core transaction, with anomalies; returns the ground truth by type."""
    from core_legacy.conversions import normalise_status

    rng = random.Random(seed)
    truth: dict[str, set] = {t: set() for t in TYPES}
    first_day, last_day = conn.execute("SELECT min(trans_date)::date, max(trans_date)::date FROM transaction_detail").fetchone()
    per_type = ANOMALY_SHARE / len(TYPES)
    line_no = 1  # the header is line 1
    with open(path, "w", newline="") as handle, conn.cursor(name="bench_core") as cur:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        cur.itersize = 20_000
        cur.execute(
            """SELECT txn_id, trans_date, status, sabpaisa_resp_code, paid_amount, act_amount, convcharges, ep_charges,
                      gst, payment_mode FROM transaction_detail ORDER BY trans_date, txn_id"""
        )
        for n, (txn_id, when, word, code, paid_amount, act_amount, conv, ep, gst, mode) in enumerate(cur, start=1):
            paid = normalise_status(word, code, table="transaction_detail", key=txn_id)[0].value in PAID
            amount = _money(paid_amount if paid_amount is not None else act_amount) if paid else _money(act_amount)
            fee, tax = _money(conv) + _money(ep), _money(gst)
            net = amount - fee - tax if paid else amount
            status = "SUCCESS" if paid else "FAILED"
            edge = when.date() in (first_day, last_day)
            kind = None
            roll = rng.random()
            if not edge and roll < ANOMALY_SHARE:
                kind = TYPES[int(roll / per_type)]
                if kind in ("AMOUNT", "DATE", "FEE", "MISSING_IN_BANK", "DUPLICATE") and not paid:
                    kind = None
            if kind == "MISSING_IN_BANK":
                truth[kind].add(txn_id)
                continue
            if kind == "AMOUNT":
                amount += Decimal(rng.randint(100, 5000)) / 100
            elif kind == "DATE":
                when = when + dt.timedelta(days=5)
            elif kind == "STATUS":
                status = "FAILED" if paid else "SUCCESS"
                net = amount
            elif kind == "FEE":
                net -= Decimal(rng.randint(100, 2000)) / 100
            row = [txn_id, "", f"{amount}", f"{fee}", f"{tax}", f"{net}", "", when.strftime("%d-%m-%Y %H:%M:%S"),
                   mode or "", status]  # fmt: skip
            writer.writerow(row)
            line_no += 1
            if kind in ("AMOUNT", "DATE", "STATUS", "FEE"):
                truth[kind].add(line_no)
            elif kind == "DUPLICATE":
                writer.writerow(row)
                line_no += 1
                truth[kind].add(line_no)
            if rng.random() < per_type:
                line_no += 1
                writer.writerow([f"999{n:015d}", "", f"{amount}", "0.00", "0.00", f"{amount}", "",
                                 when.strftime("%d-%m-%Y %H:%M:%S"), mode or "", "SUCCESS"])  # fmt: skip
                truth["MISSING_IN_SYSTEM"].add(line_no)
            if n % 200_000 == 0:
                progress(f"file: {n:,}/{size:,} transactions written")
    return truth


def _limit_seconds(path: str, *, logged: bool = False) -> float:
    """A plain COPY of the file into an unindexed table + one hash join on the reference.

    `logged`: the table is an ordinary (WAL-logged, shared-buffer) table instead of a
    temporary one: the cost of landing the file durably at all, which any import pays.
    """
    from django.db import connection, transaction

    from core_legacy.sql import core_table

    create = ("CREATE {}TABLE bench_plain (order_id text, reference_id text, amount numeric, fee numeric, tax numeric,"
              " net numeric, utr text, txn_time text, payment_mode text, status text)")  # fmt: skip
    if logged:
        # Created and committed before the timed part: under wal_level=minimal a COPY into a
        # table created in the same transaction skips the WAL, which would not be a logged load.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(create.format(""))
    started = time.perf_counter()
    # The logged variant commits inside the timed part: a durable write pays its WAL flush
    # there, as the import's and the run's do. (The temporary one runs in the caller's
    # transaction, as it always has.)
    with transaction.atomic(), connection.cursor() as cursor:
        if not logged:
            cursor.execute(create.format("TEMPORARY "))
        with open(path, "rb") as handle, cursor.cursor.copy("COPY bench_plain FROM STDIN (FORMAT csv, HEADER true)") as copy:
            while block := handle.read(1 << 20):
                copy.write(block)
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute(
            f"SELECT count(*), sum(p.amount - round(t.paid_amount::numeric, 2)) FROM bench_plain p "
            f"JOIN {core_table('transaction_detail')} t ON t.txn_id = p.order_id"
        )
        cursor.fetchone()
        if not logged:
            cursor.execute("DROP TABLE bench_plain")
    seconds = time.perf_counter() - started
    if logged:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE bench_plain")
    return seconds


def _quiesce(progress) -> None:
    """Flush what was written before a timed part: otherwise the checkpoint that seeding the
    core triggers (half a gigabyte of new pages) writes them out while the import and the run
    are timed, and the import's and the run's own while the limit is."""
    from django.db import DatabaseError, connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    except DatabaseError as exc:  # CHECKPOINT needs superuser or pg_checkpoint
        progress(f"no checkpoint before timing ({exc}); the figures may include the seeding's writes")


def _timed(progress):
    """Report each statement of the run that takes over a second (where the time goes)."""

    def wrapper(execute, sql, params, many, context):
        if EXPLAIN and (sql.lstrip().startswith("INSERT") or " AS SELECT " in sql[:200]):
            # Diagnostics (RECON_BENCH_EXPLAIN=1): the plan with real timings, rolled back,
            # then the statement itself.
            raw = context["cursor"].cursor
            raw.execute("SAVEPOINT bench_explain")
            raw.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            plan = "\n".join(r[0] for r in raw.fetchall())
            raw.execute("ROLLBACK TO SAVEPOINT bench_explain")
            progress(f"plan of {' '.join(sql.split())[:80]}:\n{plan}")
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            seconds = time.perf_counter() - started
            if seconds > SLOW_S:
                progress(f"  {seconds:5.1f}s  {' '.join(sql.split())[:110]}")

    return wrapper


def run(*, size: int, progress) -> dict:
    from django.conf import settings
    from django.db import connection, transaction

    from core_legacy.owner import core_owner_connection
    from core_legacy.seeding.generator import seed_core
    from enhancements.reconciliation.models import MappingProfileRecord, Mismatch
    from enhancements.reconciliation.services import (
        reconciliation_run_create,
        reconciliation_run_execute,
        settlement_file_import,
    )

    end = dt.date.today() - dt.timedelta(days=1)
    with core_owner_connection() as conn:
        seed_core(conn, transactions=size, clients=200, days=60, seed=7, end_date=end, schema=settings.CORE_DB_SCHEMA,
                  progress=lambda d, t: d % 200_000 == 0 and progress(f"seeded {d:,}/{t:,}"))  # fmt: skip
        conn.execute("ANALYZE transaction_detail")
        conn.commit()
        keep = os.environ.get("RECON_BENCH_KEEP_FILE")  # diagnostics: keep the generated file at this path
        if keep:
            path = keep
        else:
            fd, path = tempfile.mkstemp(prefix="recon-bench-", suffix=".csv")
            os.close(fd)
        truth = write_file(conn, path, size=size, seed=11, progress=progress)
    try:
        lines = sum(1 for _ in open(path, "rb")) - 1
        progress(f"file has {lines:,} lines, {sum(len(v) for v in truth.values()):,} injected anomalies")
        profile = MappingProfileRecord.objects.get(name="gateway-fee-plus-tax")
        _quiesce(progress)
        started = time.perf_counter()
        with open(path, "rb") as handle, connection.execute_wrapper(_timed(progress)):
            record = settlement_file_import(stream=handle, original_name="bench.csv", profile=profile, progress=progress)
        imported = time.perf_counter()
        with connection.execute_wrapper(_timed(progress)):
            run_ = reconciliation_run_execute(run=reconciliation_run_create(file=record))
        finished = time.perf_counter()
        progress(f"import {imported - started:.1f}s, match {finished - imported:.1f}s; measuring the limit")
        _quiesce(progress)  # the import's and the run's writes, likewise
        with transaction.atomic():
            limit = _limit_seconds(path)
        progress(f"limit (plain COPY + one hash join) {limit:.1f}s")
        # The same into an ordinary logged table; the timed part includes the commit (a
        # durable write pays its WAL flush there), as the import's and the run's do.
        _quiesce(progress)
        limit_logged = _limit_seconds(path, logged=True)
        progress(f"logged limit (COPY into a logged table + one hash join) {limit_logged:.1f}s")
    finally:
        if not keep:
            os.unlink(path)

    found: dict[str, set] = {t: set() for t in TYPES}
    for kind, line_no, txn_id in Mismatch.objects.filter(run=run_).values_list("type", "line_no", "txn_id").iterator():
        found[kind].add(txn_id if kind == "MISSING_IN_BANK" else line_no)
    missed = sum(len(truth[t] - found[t]) for t in TYPES)
    misclassified = sum(len(found[t] - truth[t]) for t in TYPES)
    total = finished - started
    return {
        "rows": record.rows_imported,
        "to_limit_ratio": round(total / limit, 2),
        "misclassified": misclassified,
        "missed": missed,
        "peak_rss_mb": _rss_mb(),
        "import_s": round(imported - started, 2),
        "match_s": round(finished - imported, 2),
        "limit_s": round(limit, 2),
        "to_logged_limit_ratio": round(total / limit_logged, 2),
        "limit_logged_s": round(limit_logged, 2),
        "anomalies": {t: len(truth[t]) for t in TYPES},
        "flagged": {t: len(found[t]) for t in TYPES},
        "match_rate": run_.summary["match_rate"],
    }
