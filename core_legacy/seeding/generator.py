"""Realistic, deterministic demo data for the core (same arguments -> same rows).

What it produces, and why (each quirk is one the mirror must survive):
- merchants with refund/whitelist/disable flags, risk categories, payment modes, endpoints;
- transactions over `days` days ending at `end_date`, lognormal amounts, every status
  with its code (0000/0100/0200/0300/0400/0600/0700/0800), ~1% where `status` and
  `sabpaisa_resp_code` disagree, settlements with UTRs, refunds, chargebacks,
  NULL-heavy rows, 'NA'/'null' UDFs, the duplicate "bankTxnId" column;
- merchant refund requests whose text `amount` has stray spaces and commas;
- settlement rows (settlement_data_t) per settled transaction, with the batch UTR.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import random
from collections.abc import Callable, Iterator

import psycopg

from ..fixture import ensure_month_partitions
from .writer import copy_rows, insert_dicts

PAYMENT_MODES = [
    # paymode_id, name, type, code, share of traffic, fee rate
    (1, "UPI", "UPI", "UPI", 0.42, 0.0),
    (2, "Debit Card", "CARD", "DC", 0.12, 0.009),
    (3, "RuPay Debit Card", "CARD", "RDC", 0.05, 0.0),
    (4, "Credit Card", "CARD", "CC", 0.16, 0.019),
    (5, "Net Banking", "NB", "NB", 0.13, 0.015),
    (6, "Wallet", "WALLET", "WL", 0.06, 0.018),
    (7, "Challan", "CHALLAN", "CH", 0.03, 0.0),
    (8, "International Card", "CARD", "IC", 0.03, 0.03),
]
ENDPOINTS = [(1, "HDFC PG"), (2, "ICICI PG"), (3, "SBI ePay"), (4, "Axis PG"), (5, "Airtel Payments Bank")]
BANKS = ["HDFC Bank", "ICICI Bank", "State Bank of India", "Axis Bank", "Kotak Mahindra Bank"]
FIRST = ["Aarav", "Vivaan", "Aditya", "Diya", "Ananya", "Ishaan", "Kavya", "Rohan", "Priya", "Sanjay", "Meera",
         "Arjun", "Neha", "Rahul", "Pooja", "Karthik", "Lakshmi", "Farhan", "Simran", "Gurpreet"]  # fmt: skip
LAST = ["Sharma", "Verma", "Iyer", "Reddy", "Nair", "Patel", "Gupta", "Khan", "Singh", "Das", "Mehta", "Rao"]
BUSINESS = ["Traders", "Education Trust", "Hospital", "Foods", "Electronics", "Textiles", "Insurance", "Travels",
            "Municipal Corporation", "University", "Pharma", "Logistics"]  # fmt: skip
CITIES = ["Mumbai", "Delhi", "Bengaluru", "Chennai", "Kolkata", "Pune", "Jaipur", "Lucknow", "Kochi", "Indore"]

# Final status mix (word, code, weight).
STATUS_MIX = [
    ("SUCCESS", "0000", 0.455),
    ("SETTLED", "0800", 0.26),
    ("FAILED", "0300", 0.12),
    ("ABORTED", "0200", 0.06),
    ("INITIATED", "0100", 0.04),
    ("REFUND_INITIATED", "0600", 0.015),
    ("REFUNDED", "0700", 0.025),
    ("CHALLAN_GENERATED", "0400", 0.025),
]
# Word spellings the core really writes for the same status.
WORD_VARIANTS = {"SUCCESS": ["SUCCESS", "Success", "success", "SUCCESSFUL"], "FAILED": ["FAILED", "Failed", "FAIL"]}

TXN_COLUMNS = (
    "txn_id", "trans_date", "client_id", "client_code", "client_name", "client_txn_id", "status",
    "sabpaisa_resp_code", "act_amount", "payee_amount", "paid_amount", "payment_mode", "payment_mode_id",
    "pg_name", "pg_pay_mode", "pg_txn_id", "pg_response_code", "bank_txn_id", "bankTxnId", "bank_name",
    "bank_message", "challan_no", "trans_complete_date", "convcharges", "ep_charges", "gst", "conv_gst",
    "endpoint_gst", "gst_rate", "gst_rate_type", "fee_forward", "is_settled", "settlement_date",
    "settlement_amount", "settlement_utr", "settlement_status", "settlement_bank_ref", "refunded_amount",
    "refund_amount", "refund_initiated_on", "refunded_date", "refund_date", "refund_status_code",
    "refund_reason", "is_charge_back", "charge_back_amount", "charge_back_date", "charge_back_status",
    "payee_first_name", "payee_lst_name", "payee_email", "payee_mob", "vpa", "card_brand", "channel_id",
    "client_request_ip", "broser_name", "device_name", "enquiry_counter", "mapping_id", "endpoint_id",
    "transaction_tracker_time", "amount_available_to_adjust", "udf19", "udf20", "resp_msg",
)  # fmt: skip
SETTLEMENT_COLUMNS = (
    "settlement_id", "client_id", "client_code", "txn_id", "client_txn_id", "trans_date", "payment_mode",
    "gross_amount", "convcharges", "ep_charges", "gst", "net_amount", "settlement_amount", "settlement_date",
    "settlement_status", "settlement_utr", "settlement_bank_ref", "bank_name", "is_settled", "created_on",
    "created_by",
)  # fmt: skip
REFUND_REQUEST_COLUMNS = (
    "refund_id", "amount", "client_code", "client_id", "client_txn_id", "message", "refund_init_date",
    "refund_complete_date", "sp_txn_id", "login_id", "refunded_bank_ref_id",
)  # fmt: skip


@dataclasses.dataclass
class SeedResult:
    clients: int = 0
    transactions: int = 0
    settlements: int = 0
    refund_requests: int = 0


@dataclasses.dataclass(frozen=True)
class Client:
    client_id: int
    client_code: str
    client_name: str
    modes: tuple[int, ...]
    weight: float


def _client_code(index: int) -> str:
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    code = ""
    n = index
    for _ in range(4):
        code = letters[n % len(letters)] + code
        n //= len(letters)
    return f"{code}{index % 100:02d}"


def seed_merchants(conn: psycopg.Connection, *, clients: int, seed: int) -> list[Client]:
    """Reference data and `clients` merchants (idempotent for the same seed)."""
    rng = random.Random(f"merchants-{seed}")
    if not conn.execute("SELECT 1 FROM partner_bank LIMIT 1").fetchone():
        insert_dicts(conn, "partner_bank", [
            {"partner_bank_id": i + 1, "bank_name": b, "bank_logo_path": f"/logos/{i + 1}.png"}
            for i, b in enumerate(BANKS)
        ])  # fmt: skip
        insert_dicts(conn, "payment_mode", [
            {"paymode_id": pid, "paymode_name": name, "paymode_type": kind, "code": code,
             "active": rng.choice(["Y", "1", "true"])}
            for pid, name, kind, code, _share, _rate in PAYMENT_MODES
        ])  # fmt: skip
        insert_dicts(conn, "endpoint_data_table", [
            {"ep_id": eid, "ep_name": name, "bank_name": BANKS[(eid - 1) % len(BANKS)], "ep_type": "PG",
             "agr_name": "SabPaisa", "ep_mrchnt_id": f"EPM{eid:04d}"}
            for eid, name in ENDPOINTS
        ])  # fmt: skip
        insert_dicts(conn, "payment_status_master", [
            {"id": i + 1, "payment_status_code": code, "payment_status_name": word, "is_active": 1}
            for i, (word, code, _w) in enumerate(STATUS_MIX)
        ])  # fmt: skip
        insert_dicts(conn, "fee_data_table", [
            {"fee_id": pid, "convcharges": rate * 100, "convcharges_type": "PERCENTAGE", "end_pointcharge": 0.0,
             "end_pointcharges_types": "FIXED", "gst": 18.0, "gst_type": "PERCENTAGE", "slab_floor": 0.0,
             "slab_ceiling": 10000000.0, "slab_number": 1, "is_tax_applicable_convcharges": True,
             "is_tax_applicable_end_pointcharge": True}
            for pid, _n, _k, _c, _s, rate in PAYMENT_MODES
        ])  # fmt: skip
    existing = {r[0] for r in conn.execute("SELECT client_id FROM client_data_table").fetchall()}
    result, rows, modes_rows, mapping_rows = [], [], [], []
    mapping_id = conn.execute("SELECT coalesce(max(mapping_id), 0) FROM client_ep_mappings_configuration").fetchone()[0]
    paymode_id = conn.execute("SELECT coalesce(max(client_paymode_id), 0) FROM client_payment_mode").fetchone()[0]
    for client_id in range(1, clients + 1):
        code = _client_code(client_id)
        name = f"{rng.choice(CITIES)} {rng.choice(BUSINESS)} {client_id}"
        mode_ids = tuple(sorted({1, *rng.sample([m[0] for m in PAYMENT_MODES], rng.randint(2, 6))}))
        weight = rng.lognormvariate(0, 1.0)
        result.append(Client(client_id, code, name, mode_ids, weight))
        if client_id in existing:
            continue
        refund_flag = rng.random() < 0.85
        rows.append({
            "client_id": client_id, "client_code": code, "client_name": name, "active": rng.random() < 0.97,
            "auth_flag": True, "auth_key": f"k{rng.getrandbits(64):016x}", "auth_iv": f"iv{rng.getrandbits(48):012x}",
            "auth_type": "AES", "client_contact": f"9{rng.randint(100000000, 999999999)}",
            "client_email": f"accounts@{code.lower()}.example.in", "client_pass": "********",
            "client_user_name": code.lower(), "client_type": rng.choice(["MERCHANT", "AGGREGATOR"]),
            "created_by": "system", "creation_date": dt.datetime(2019, 1, 1) + dt.timedelta(days=rng.randint(0, 1800)),
            "failed_ru_url": f"https://{code.lower()}.example.in/fail", "success_ru_url": f"https://{code.lower()}.example.in/ok",
            "push_api_flag": rng.random() < 0.6, "push_api_url": f"https://{code.lower()}.example.in/push",
            "refund_applicable": refund_flag,
            "is_refund_applicable": rng.choice(["Y", "N", None]) if rng.random() < 0.3 else ("Y" if refund_flag else "N"),
            "client_logo_path": f"/logos/c{client_id}.png", "partner_bank_id": rng.randint(1, len(BANKS)),
            "is_whitelisted": rng.random() < 0.95, "client_disable_flag": rng.random() < 0.03,
            "risk_category": rng.choice([1, 1, 1, 2, 2, 3]), "client_mcc": rng.choice(["5411", "8220", "8062", "4722", "5732"]),
            "refund_type": rng.choice(["FULL", "PARTIAL", None]), "refund_day": rng.choice([None, 7, 30, 180]),
            "is_unicode_allowed": 0, "applicable_for_challan": "Y" if 7 in mode_ids else "N",
            "isPaybyLink": rng.choice([0, 1]), "loginBean_loginId": client_id, "application_appId": None,
            "mesaage_bypass_flag": False, "round_off": False, "api_version": rng.choice([1, 2]),
        })  # fmt: skip
        for mode in mode_ids:
            paymode_id += 1
            mapping_id += 1
            mode_name = PAYMENT_MODES[mode - 1][1]
            modes_rows.append({"client_paymode_id": paymode_id, "paymode_flag": True, "payment_mode_id": mode,
                               "payment_mode_name": mode_name, "client_data_client_id": client_id,
                               "is_frm_applicable": False})  # fmt: skip
            mapping_rows.append({"mapping_id": mapping_id, "client_id": client_id, "paymode_id": mode,
                                 "endpoint_id": rng.randint(1, len(ENDPOINTS)), "fee_fee_id": mode,
                                 "fee_forward": rng.choice(["Y", "N"]), "has_slabs": "N", "priority": 1,
                                 "active": True})  # fmt: skip
    insert_dicts(conn, "client_data_table", rows)
    insert_dicts(conn, "client_payment_mode", modes_rows)
    insert_dicts(conn, "client_ep_mappings_configuration", mapping_rows)
    return result


def _money(value: float) -> float:
    return round(value, 2)


def transaction_rows(
    *, clients: list[Client], transactions: int, days: int, seed: int, end_date: dt.date, start_index: int = 0
) -> Iterator[tuple]:
    """Yield transaction_detail rows in TXN_COLUMNS order (plus settlement/refund side rows)."""
    rng = random.Random(f"transactions-{seed}")
    end = dt.datetime.combine(end_date, dt.time(23, 59, 59))
    span = days * 86400
    cum_clients, total = [], 0.0
    for c in clients:
        total += c.weight
        cum_clients.append(total)
    statuses = [s for s in STATUS_MIX]
    status_cum, acc = [], 0.0
    for s in statuses:
        acc += s[2]
        status_cum.append(acc)
    mode_by_id = {m[0]: m for m in PAYMENT_MODES}
    seed_prefix = f"{seed % 1000:03d}"
    randf, randint, choice, bisect = rng.random, rng.randint, rng.choice, __import__("bisect").bisect
    for i in range(start_index, start_index + transactions):
        client = clients[min(bisect(cum_clients, randf() * total), len(clients) - 1)]
        mode = mode_by_id[choice(client.modes)]
        mode_id, mode_name, _kind, _code, _share, rate = mode
        word, code, _w = statuses[min(bisect(status_cum, randf() * acc), len(statuses) - 1)]
        if mode_id == 7 and word in ("SUCCESS", "SETTLED") and randf() < 0.3:
            word, code = "CHALLAN_GENERATED", "0400"
        elif word == "CHALLAN_GENERATED" and mode_id != 7:
            word, code = "SUCCESS", "0000"
        # Seconds since the window start, denser in working hours (India time).
        offset = int(randf() * span)
        trans_date = end - dt.timedelta(seconds=span - offset)
        hour = trans_date.hour
        if hour < 7 and randf() < 0.7:
            trans_date += dt.timedelta(hours=9)
            if trans_date > end:
                trans_date -= dt.timedelta(days=1)
        amount = _money(min(max(math.exp(rng.gauss(7.0, 1.25)), 1.0), 2_500_000.0))
        if mode_id == 8 and randf() < 0.05:
            amount = _money(500_000 + randf() * 700_000)  # cross-border above Rs 5 lakh
        txn_id = f"{seed_prefix}{i:015d}"
        succeeded = word in ("SUCCESS", "SETTLED", "REFUND_INITIATED", "REFUNDED")
        fee = _money(amount * rate) if succeeded else 0.0
        gst = _money(fee * 0.18)
        paid = amount if succeeded or word == "CHALLAN_GENERATED" else (amount if randf() < 0.5 else 0.0)
        complete = trans_date + dt.timedelta(seconds=randint(3, 600)) if word != "INITIATED" else None
        null_heavy = randf() < 0.05
        first, last = choice(FIRST), choice(LAST)
        status_word = word
        if word in WORD_VARIANTS:
            status_word = choice(WORD_VARIANTS[word])
        resp_code = code
        if randf() < 0.01:  # the core's status word and code disagree sometimes
            status_word = choice(["SUCCESS", "FAILED", "INITIATED"]) if word != "SUCCESS" else "FAILED"
        settled = word in ("SETTLED", "REFUNDED") and randf() < 0.9 or word == "SETTLED"
        settle_date = settlement_amount = utr = None
        if settled and complete is not None:
            settle_date = dt.datetime.combine(complete.date() + dt.timedelta(days=1 + (complete.weekday() >= 4) * 2), dt.time(11, 0))
            if settle_date > end:
                settled, settle_date = False, None
            else:
                settlement_amount = _money(amount - fee - gst)
                utr = f"UTR{settle_date:%y%m%d}{client.client_id:05d}{seed % 100:02d}"
        refunded_amount = refund_amount = refund_init = refunded_on = refund_text = None
        if word in ("REFUND_INITIATED", "REFUNDED") and complete is not None:
            refund_amount = amount if randf() < 0.7 else _money(amount * randint(10, 90) / 100)
            refund_init = complete + dt.timedelta(hours=randint(1, 72))
            if refund_init > end:
                refund_init = end - dt.timedelta(minutes=5)
            if word == "REFUNDED":
                refunded_on = min(refund_init + dt.timedelta(days=randint(1, 9)), end)
                refunded_amount = refund_amount
                refund_text = refunded_on.strftime(choice(["%Y-%m-%d %H:%M:%S", "%d-%m-%Y"]))
        chargeback = succeeded and randf() < 0.004 and complete is not None
        cb_date = min(complete + dt.timedelta(days=randint(5, 40)), end) if chargeback else None
        is_upi = mode_id == 1
        ep = randint(1, len(ENDPOINTS))
        text_adjust = choice([" 0 ", "0", f"{amount:,.2f}", "NA"]) if randf() < 0.02 else None
        yield (
            txn_id, trans_date, client.client_id, client.client_code, client.client_name,
            f"{client.client_code}-{i:09d}", status_word, resp_code, amount, amount, paid, mode_name, mode_id,
            ENDPOINTS[ep - 1][1], _code, None if null_heavy else f"PG{seed_prefix}{i:012d}",
            None if null_heavy else ("00" if succeeded else "05"),
            None if null_heavy or not succeeded else f"BNK{i:012d}",
            None if null_heavy or not succeeded else f"BNK{i:012d}",
            None if null_heavy else BANKS[ep - 1],
            None if null_heavy else ("Transaction Successful" if succeeded else "Declined by bank"),
            f"CH{i:010d}" if mode_id == 7 else None, complete,
            fee, 0.0 if succeeded else None, gst, gst, 0.0, 18.0, "PERCENTAGE", choice(["Y", "N"]),
            settled, settle_date, settlement_amount, utr, "SETTLED" if settled else None,
            f"SBR{i:010d}" if settled else None,
            refunded_amount, refund_amount, refund_init, refunded_on, refund_text,
            ("0700" if word == "REFUNDED" else "0600") if refund_amount else None,
            "Customer request" if refund_amount else None,
            chargeback, amount if chargeback else None, cb_date,
            (choice(["RAISED", "RESOLVED", "ACCEPTED"]) if chargeback else None),
            None if null_heavy else first, None if null_heavy else last,
            None if null_heavy else f"{first.lower()}.{last.lower()}{i % 997}@example.com",
            None if null_heavy else f"9{randint(100000000, 999999999)}",
            f"{first.lower()}{i % 9973}@okhdfcbank" if is_upi and not null_heavy else None,
            choice(["VISA", "MASTERCARD", "RUPAY"]) if mode_name.endswith("Card") and mode_id != 3 else ("RUPAY" if mode_id == 3 else None),
            choice(["WEB", "MOBILE", "API"]), None if null_heavy else f"10.{i % 256}.{(i // 256) % 256}.{i % 200 + 1}",
            None if null_heavy else choice(["Chrome", "Firefox", "Safari", "Edge"]), choice(["Desktop", "Mobile", None]),
            randint(0, 3), client.client_id * 10 + mode_id, ep,
            max(d for d in (trans_date, complete, settle_date, refund_init, refunded_on, cb_date) if d is not None),
            text_adjust, choice(["NA", "null", None]), choice(["NA", "null", None]),
            None if null_heavy else ("SUCCESS" if succeeded else "FAILURE"),
        )  # fmt: skip


def seed_core(
    conn: psycopg.Connection,
    *,
    transactions: int,
    clients: int,
    days: int,
    seed: int,
    end_date: dt.date,
    schema: str,
    progress: Callable[[int, int], None] | None = None,
) -> SeedResult:
    """Fill the core with deterministic demo data in one transaction (all or nothing)."""
    if transactions < 0 or clients < 1 or days < 1:
        raise ValueError("need transactions >= 0, clients >= 1, days >= 1")
    result = SeedResult()
    with conn.transaction():
        start = end_date - dt.timedelta(days=days)
        ensure_month_partitions(conn, start=start, end=end_date, schema=schema)
        merchant_list = seed_merchants(conn, clients=clients, seed=seed)
        result.clients = len(merchant_list)
        clash = conn.execute(
            "SELECT txn_id FROM transaction_detail WHERE txn_id LIKE %s LIMIT 1", (f"{seed % 1000:03d}%",)
        ).fetchone()
        if clash and transactions:
            raise ValueError(
                f"the core already holds transactions of seed {seed} (e.g. {clash[0]}); seed with another --seed"
            )
        settlements, refund_requests = [], []
        refund_id = conn.execute("SELECT coalesce(max(refund_id), 0) FROM refund_request_from_client").fetchone()[0]
        rng = random.Random(f"side-{seed}")
        idx = {c: n for n, c in enumerate(TXN_COLUMNS)}

        def rows_with_side_effects():
            nonlocal refund_id
            for count, row in enumerate(
                transaction_rows(clients=merchant_list, transactions=transactions, days=days, seed=seed, end_date=end_date),
                start=1,
            ):
                if row[idx["is_settled"]] and row[idx["settlement_utr"]]:
                    settlements.append((
                        row[idx["settlement_utr"]], row[idx["client_id"]], row[idx["client_code"]], row[idx["txn_id"]],
                        row[idx["client_txn_id"]], row[idx["trans_date"]], row[idx["payment_mode"]],
                        row[idx["paid_amount"]], row[idx["convcharges"]], row[idx["ep_charges"]], row[idx["gst"]],
                        row[idx["settlement_amount"]], row[idx["settlement_amount"]], row[idx["settlement_date"]],
                        "SETTLED", row[idx["settlement_utr"]], row[idx["settlement_bank_ref"]], "HDFC Bank", "Y",
                        row[idx["settlement_date"]], "settlement-engine",
                    ))  # fmt: skip
                if row[idx["refund_amount"]] is not None and rng.random() < 0.6:
                    refund_id += 1
                    amount = row[idx["refund_amount"]]
                    text = rng.choice([f"{amount:.2f}", f" {amount:.2f} ", f"{amount:,.2f}", f"{amount:,.2f} "])
                    done = row[idx["refunded_date"]]
                    refund_requests.append((
                        refund_id, text, row[idx["client_code"]], str(row[idx["client_id"]]),
                        row[idx["client_txn_id"]], "Customer asked for a refund", row[idx["refund_initiated_on"]],
                        done, row[idx["txn_id"]], row[idx["client_id"]], f"RRN{refund_id:09d}" if done else None,
                    ))  # fmt: skip
                if progress and (count % 50_000 == 0 or count == transactions):
                    progress(count, transactions)
                yield row

        result.transactions = copy_rows(conn, "transaction_detail", TXN_COLUMNS, rows_with_side_effects())
        result.settlements = copy_rows(conn, "settlement_data_t", SETTLEMENT_COLUMNS, settlements)
        result.refund_requests = copy_rows(conn, "refund_request_from_client", REFUND_REQUEST_COLUMNS, refund_requests)
        # The real core's autovacuum keeps planner statistics fresh; do the same after a bulk load.
        for table in ("transaction_detail", "settlement_data_t", "refund_request_from_client", "client_data_table"):
            conn.execute(f"ANALYZE {table}")
    return result
