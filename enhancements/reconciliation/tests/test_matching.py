"""Rules pair file lines with core transactions in SQL; every mismatch type is found."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection

from enhancements.reconciliation.models import Mismatch, ReconResult

from .conftest import gateway_line

pytestmark = pytest.mark.django_db(databases=["default", "core"])
DAY = dt.datetime(2026, 11, 20, 10, 30)


def mismatches(run) -> dict[str, list[Mismatch]]:
    found: dict[str, list[Mismatch]] = {}
    for m in Mismatch.objects.filter(run=run).order_by("id"):
        found.setdefault(m.type, []).append(m)
    return found


def test_exact_reference_match_records_rule_and_summary(core_rows, gateway_file, rules, reconcile):
    (rule,) = rules({"reference": "txn_id"})
    t = core_rows.transaction(paid_amount=1234.56, act_amount=1234.56, convcharges=20.0, gst=3.6)
    run = reconcile(gateway_file([gateway_line(txn_id=t["txn_id"], amount="1234.56", fee="20.00", tax="3.60", net="1210.96")]))
    (result,) = ReconResult.objects.filter(run=run)
    assert (result.txn_id, result.outcome, result.rule_id, result.mismatch_type) == (t["txn_id"], "MATCHED", rule.pk, None)
    assert result.file_amount == result.core_amount == Decimal("1234.56")
    assert result.expected_net == Decimal("1210.96")
    assert run.summary["matched_lines"] == 1 and run.summary["matched_amount"] == "1234.56"
    assert run.summary["match_rate"] == 1.0
    assert all(v["count"] == 0 for v in run.summary["mismatches"].values())


def test_every_mismatch_type_is_classified(core_rows, gateway_file, rules, reconcile):
    rules({"reference": "txn_id", "date_drift_days": 2})
    amount = core_rows.transaction(paid_amount=1000.0)
    date = core_rows.transaction(trans_date=DAY - dt.timedelta(days=5))
    status = core_rows.transaction(status="FAILED", sabpaisa_resp_code="0300", paid_amount=0.0)
    fee = core_rows.transaction(convcharges=20.0, gst=3.6)  # expected net 976.40
    duplicate = core_rows.transaction()
    missing_bank = core_rows.transaction()
    core_rows.transaction(status="FAILED", sabpaisa_resp_code="0300")  # failed and absent from the file: fine
    ok = core_rows.transaction()
    run = reconcile(gateway_file([
        gateway_line(txn_id=amount["txn_id"], amount="1000.50"),
        gateway_line(txn_id=date["txn_id"]),
        gateway_line(txn_id=status["txn_id"]),
        gateway_line(txn_id=fee["txn_id"], fee="20.00", tax="3.60", net="970.00"),
        gateway_line(txn_id=duplicate["txn_id"]),
        gateway_line(txn_id=duplicate["txn_id"]),
        gateway_line(txn_id="NOT-IN-CORE-1", amount="55.00"),
        gateway_line(txn_id=ok["txn_id"]),
    ]))  # fmt: skip
    found = mismatches(run)
    assert sorted(found) == sorted(Mismatch.Type.values)
    assert all(len(v) == 1 for v in found.values()), {k: len(v) for k, v in found.items()}
    assert found["AMOUNT"][0].txn_id == amount["txn_id"] and found["AMOUNT"][0].amount == Decimal("0.50")
    assert found["DATE"][0].txn_id == date["txn_id"]
    assert found["STATUS"][0].txn_id == status["txn_id"]
    assert found["FEE"][0].txn_id == fee["txn_id"] and found["FEE"][0].amount == Decimal("6.40")
    assert found["DUPLICATE"][0].line_no == 7 and duplicate["txn_id"] in found["DUPLICATE"][0].detail
    assert found["MISSING_IN_SYSTEM"][0].line_no == 8 and found["MISSING_IN_SYSTEM"][0].amount == Decimal("55.00")
    assert found["MISSING_IN_BANK"][0].txn_id == missing_bank["txn_id"]
    assert run.summary["mismatches"]["AMOUNT"] == {"count": 1, "amount": "0.50"}
    assert run.summary["matched_lines"] == 2  # `ok` and the first duplicate line


def test_amount_tolerance_absolute_and_percent(core_rows, gateway_file, rules, reconcile):
    a = core_rows.transaction(paid_amount=1000.0)
    b = core_rows.transaction(paid_amount=1000.0)
    lines = [gateway_line(txn_id=a["txn_id"], amount="1000.90"), gateway_line(txn_id=b["txn_id"], amount="1004.00")]
    rules({"reference": "txn_id", "amount_tolerance_abs": Decimal("1.00")})
    found = mismatches(reconcile(gateway_file(lines)))
    assert [m.txn_id for m in found["AMOUNT"]] == [b["txn_id"]]
    rules({"reference": "txn_id", "amount_tolerance_pct": Decimal("0.5")})  # 0.5% of 1000 = 5.00
    found = mismatches(reconcile(_reimport(lines)))
    assert "AMOUNT" not in found


def _reimport(lines):
    # Same lines, different bytes (a trailing blank line), so it is not a duplicate file.
    import io

    from enhancements.reconciliation.models import MappingProfileRecord
    from enhancements.reconciliation.services import settlement_file_import

    from .conftest import GATEWAY_HEADER, csv_bytes

    return settlement_file_import(stream=io.BytesIO(csv_bytes(GATEWAY_HEADER, lines) + b"\r\n"), original_name="b.csv",
                                  profile=MappingProfileRecord.objects.get(name="gateway-fee-plus-tax"))  # fmt: skip


@pytest.mark.parametrize("reference", ["pg_txn_id", "bank_txn_id", "client_txn_id", "settlement_utr"])
def test_exact_match_on_each_reference(reference, core_rows, import_file, rules, reconcile):
    from enhancements.reconciliation.models import MappingProfileRecord

    (rule,) = rules({"reference": reference})
    MappingProfileRecord.objects.create(name=f"only-{reference}".replace("_", "-"), source="bank", file_format="csv",
                                        columns={reference: "Ref", "amount": "Amount", "txn_date": "Date"},
                                        date_formats=["%Y-%m-%d"])  # fmt: skip
    t = core_rows.transaction(**{reference: "REF-0001"})
    core_rows.transaction(**{reference: "REF-0002"})  # another reference: not paired with the line
    run = reconcile(import_file(b"Ref,Amount,Date\nREF-0001,1000.00,2026-11-20\n", profile=f"only-{reference}".replace("_", "-")))
    (result,) = ReconResult.objects.filter(run=run)
    assert (result.txn_id, result.rule_id, result.outcome) == (t["txn_id"], rule.pk, "MATCHED")


def test_a_reference_naming_several_core_transactions_pairs_nothing_and_is_a_duplicate(core_rows, import_file, rules,
                                                                                       reconcile):  # fmt: skip
    from enhancements.reconciliation.models import MappingProfileRecord

    (rule,) = rules({"reference": "pg_txn_id"})
    MappingProfileRecord.objects.create(name="only-pg", source="bank", file_format="csv",
                                        columns={"pg_txn_id": "Ref", "amount": "Amount", "txn_date": "Date"},
                                        date_formats=["%Y-%m-%d"])  # fmt: skip
    twins = [core_rows.transaction(pg_txn_id="PG-TWIN") for _ in range(2)]  # the core reuses a gateway reference
    single = core_rows.transaction(pg_txn_id="PG-ONE")
    run = reconcile(import_file(b"Ref,Amount,Date\nPG-TWIN,1000.00,2026-11-20\nPG-ONE,1000.00,2026-11-20\n", profile="only-pg"))
    (result,) = ReconResult.objects.filter(run=run)  # the unambiguous line still pairs
    assert (result.txn_id, result.line_no, result.rule_id) == (single["txn_id"], 3, rule.pk)
    duplicate = Mismatch.objects.get(run=run, type="DUPLICATE")
    assert (duplicate.line_no, duplicate.detail) == (2, "pg_txn_id PG-TWIN names 2 core transactions")
    # Neither twin was claimed: both are missing from the bank's side.
    missing = set(Mismatch.objects.filter(run=run, type="MISSING_IN_BANK").values_list("txn_id", flat=True))
    assert missing == {t["txn_id"] for t in twins}


@pytest.mark.parametrize("small_tables", [True, False], ids=["small-tables", "whole-file"])
def test_references_repeated_in_the_file_and_in_the_window_with_rules_on_two_references(
        small_tables, core_rows, gateway_file, rules, reconcile, monkeypatch):  # fmt: skip
    # Lines sharing a reference are joined through two small tables, or (past
    # SHARED_TABLES_MAX_LINES) through the whole file and window: the same outcome either way.
    from enhancements.reconciliation import matching

    if not small_tables:
        monkeypatch.setattr(matching, "SHARED_TABLES_MAX_LINES", 0)
    split, first, pg_split, pg_exact = rules(
        {"kind": "many_to_one", "reference": "txn_id"}, {"reference": "txn_id"},
        {"kind": "many_to_one", "reference": "pg_txn_id"}, {"reference": "pg_txn_id"},
    )  # fmt: skip
    when = dt.datetime(2026, 11, 20, 10, 30)
    a, b, c = (core_rows.transaction(trans_date=when) for _ in range(3))
    twins = [core_rows.transaction(txn_id="D-TWICE", trans_date=when + dt.timedelta(hours=h)) for h in (0, 1)]
    e = core_rows.transaction(trans_date=when, pg_txn_id="PG-E")
    run = reconcile(gateway_file([
        gateway_line(txn_id=a["txn_id"]),                      # line 2: one_to_one
        gateway_line(txn_id=b["txn_id"], amount="600.00"),     # lines 3-4: split, add up to 1000
        gateway_line(txn_id=b["txn_id"], amount="400.00"),
        gateway_line(txn_id=c["txn_id"]),                      # lines 5-6: the same line twice
        gateway_line(txn_id=c["txn_id"]),
        gateway_line(txn_id="D-TWICE"),                        # line 7: names two core rows
        gateway_line(pg_txn_id="PG-E"),                        # line 8: only a gateway reference
    ]))  # fmt: skip
    pairs = sorted(ReconResult.objects.filter(run=run).values_list("line_no", "txn_id", "rule_id"))
    assert pairs == [(2, a["txn_id"], first.pk), (3, b["txn_id"], split.pk), (4, b["txn_id"], split.pk),
                     (5, c["txn_id"], first.pk), (8, e["txn_id"], pg_exact.pk)]  # fmt: skip
    mismatches = sorted(Mismatch.objects.filter(run=run).values_list("type", "line_no", "txn_id", "detail"))
    assert mismatches == [
        ("DUPLICATE", 6, None, f"same txn_id as line 5 (matched to {c['txn_id']})"),
        ("DUPLICATE", 7, None, "txn_id D-TWICE names 2 core transactions"),
        # Neither twin was claimed: two core rows, one txn_id, both missing from the file.
        ("MISSING_IN_BANK", None, "D-TWICE", "paid in the core on 2026-11-20, in no settlement line"),
        ("MISSING_IN_BANK", None, "D-TWICE", "paid in the core on 2026-11-20, in no settlement line"),
    ]
    assert run.summary["pairs_by_rule"] == {split.name: 2, first.name: 2, pg_split.name: 0, pg_exact.name: 1}


def test_one_to_many_bank_line_settles_a_utr_batch(core_rows, import_file, rules, reconcile):
    (rule,) = rules({"kind": "one_to_many", "reference": "settlement_utr", "amount_tolerance_abs": Decimal("0.01")})
    batch = [core_rows.transaction(settlement_utr="UTR777", paid_amount=p, convcharges=c, gst=g)
             for p, c, g in [(1000.0, 10.0, 1.8), (500.0, 0.0, 0.0), (250.5, 2.5, 0.45)]]  # fmt: skip
    other = [core_rows.transaction(settlement_utr="UTR888", paid_amount=100.0) for _ in range(2)]
    # nets: 988.20 + 500.00 + 247.55 = 1735.75; UTR888 is credited 150 instead of 200.
    from enhancements.reconciliation.models import MappingProfileRecord

    MappingProfileRecord.objects.create(name="bank-utr", source="bank", file_format="csv",
                                        columns={"settlement_utr": "UTR", "amount": "Credit", "txn_date": "Date"},
                                        date_formats=["%Y-%m-%d"])  # fmt: skip
    run = reconcile(import_file(b"UTR,Credit,Date\nUTR777,1735.75,2026-11-20\nUTR888,150.00,2026-11-20\n", profile="bank-utr"))
    results = ReconResult.objects.filter(run=run)
    assert sorted(r.txn_id for r in results if r.line_no == 2) == sorted(t["txn_id"] for t in batch)
    assert {r.rule_id for r in results} == {rule.pk}
    assert {r.outcome for r in results if r.line_no == 2} == {"MATCHED"}
    # UTR888's batch is claimed by its line but short by 50.00: one AMOUNT mismatch, nothing missing.
    ((kind, line, amount, txn),) = Mismatch.objects.filter(run=run).values_list("type", "line_no", "amount", "txn_id")
    assert (kind, line, amount, txn) == ("AMOUNT", 3, Decimal("50.00"), None)
    assert {r.outcome for r in results.filter(txn_id__in=[t["txn_id"] for t in other])} == {"MISMATCHED"}
    # Five pairs from two lines: each its own id (the admin opens a result by it).
    first = results.order_by("pk").first()
    assert len({r.pk for r in results}) == 5 and ReconResult.objects.get(pk=first.pk).txn_id == first.txn_id


def test_many_to_one_split_lines_add_up(core_rows, gateway_file, rules, reconcile):
    many, one = rules({"kind": "many_to_one", "reference": "txn_id"}, {"kind": "one_to_one", "reference": "txn_id"})
    split = core_rows.transaction(paid_amount=1000.0)
    single = core_rows.transaction(paid_amount=300.0)
    run = reconcile(gateway_file([
        gateway_line(txn_id=split["txn_id"], amount="400.00"),
        gateway_line(txn_id=split["txn_id"], amount="600.00"),
        gateway_line(txn_id=single["txn_id"], amount="300.00"),
        gateway_line(txn_id=single["txn_id"], amount="300.00"),  # a repeat, not a split: 600 != 300
    ]))  # fmt: skip
    results = {(r.line_no, r.txn_id): r for r in ReconResult.objects.filter(run=run)}
    assert {k: r.rule_id for k, r in results.items()} == {
        (2, split["txn_id"]): many.pk, (3, split["txn_id"]): many.pk, (4, single["txn_id"]): one.pk
    }
    assert all(r.outcome == "MATCHED" for r in results.values())
    assert [(m.type, m.line_no) for m in Mismatch.objects.filter(run=run)] == [("DUPLICATE", 5)]


def test_first_matching_rule_wins_and_filters_apply(core_rows, gateway_file, rules, reconcile):
    nb_only, by_pg, by_txn = rules(
        {"reference": "txn_id", "payment_modes": ["Net Banking"]},
        {"reference": "pg_txn_id", "sources": ["gateway-b"]},
        {"reference": "txn_id"},
    )
    rules_of = lambda run: {r.txn_id: r.rule_id for r in ReconResult.objects.filter(run=run)}  # noqa: E731
    upi = core_rows.transaction(pg_txn_id="PG-1")
    nb = core_rows.transaction(payment_mode="Net Banking", pg_txn_id="PG-2")
    plain = core_rows.transaction()
    run = reconcile(gateway_file([
        gateway_line(txn_id=upi["txn_id"], pg_txn_id="PG-1"),
        gateway_line(txn_id=nb["txn_id"], pg_txn_id="PG-2"),
        gateway_line(txn_id=plain["txn_id"]),
    ]))  # fmt: skip
    assert rules_of(run) == {upi["txn_id"]: by_pg.pk, nb["txn_id"]: nb_only.pk, plain["txn_id"]: by_txn.pk}
    by_pg.sources = ["some-other-gateway"]
    by_pg.save()
    run = reconcile(_reimport([gateway_line(txn_id=upi["txn_id"], pg_txn_id="PG-1")]))
    assert rules_of(run) == {upi["txn_id"]: by_txn.pk}


def test_a_file_imported_before_its_references_were_recorded_reconciles_the_same(
    core_rows, gateway_file, rules, reconcile
):
    by_txn, by_pg = rules({"reference": "txn_id"}, {"reference": "pg_txn_id"})
    a = core_rows.transaction()
    core_rows.transaction(pg_txn_id="PG-B")
    core_rows.transaction()  # paid, in no line
    file = gateway_file([gateway_line(txn_id=a["txn_id"]), gateway_line(pg_txn_id="PG-B"), gateway_line(txn_id="NOPE")])
    assert file.carried_references == ["pg_txn_id", "txn_id"]
    recorded = reconcile(file, dry_run=True).summary
    file.carried_references = None
    file.save(update_fields=["carried_references"])
    assert reconcile(file, dry_run=True).summary == recorded
    assert recorded["pairs_by_rule"] == {by_txn.name: 1, by_pg.name: 1}
    assert (recorded["mismatches"]["MISSING_IN_BANK"]["count"], recorded["mismatches"]["MISSING_IN_SYSTEM"]["count"]) == (1, 1)


def test_missing_in_bank_names_the_core_row_by_its_india_time_and_keeps_to_the_files_dates(
    core_rows, gateway_file, rules, reconcile
):
    rules({"reference": "txn_id", "date_drift_days": 2})
    seen = core_rows.transaction(trans_date=dt.datetime(2026, 11, 20, 9, 0))
    late = core_rows.transaction(trans_date=dt.datetime(2026, 11, 20, 23, 45, 10))
    core_rows.transaction(trans_date=dt.datetime(2026, 11, 21, 0, 0))  # the day after the file's last: in the window only
    core_rows.transaction(trans_date=dt.datetime(2026, 11, 19, 23, 59, 59))  # the day before its first
    core_rows.transaction(trans_date=dt.datetime(2026, 11, 20, 12, 0), status="FAILED", sabpaisa_resp_code="")  # no code
    run = reconcile(gateway_file([gateway_line(txn_id=seen["txn_id"])]))
    (missing,) = Mismatch.objects.filter(run=run)
    assert (missing.type, missing.txn_id) == ("MISSING_IN_BANK", late["txn_id"])
    # The fingerprint (a re-run upserts on it) names the row by its core time, India time.
    assert missing.fingerprint == f"MISSING_IN_BANK:{late['txn_id']}:2026-11-20T23:45:10.000000"
    assert missing.detail == "paid in the core on 2026-11-20, in no settlement line"


def test_a_run_reads_the_references_its_file_recorded_and_scans_only_an_older_file(
    core_rows, gateway_file, rules, reconcile, monkeypatch
):
    from enhancements.reconciliation import matching

    rules({"reference": "txn_id"}, {"reference": "pg_txn_id"})
    t = core_rows.transaction()
    file = gateway_file([gateway_line(txn_id=t["txn_id"])])
    scans = []
    real_scan = matching.carried_references
    monkeypatch.setattr(matching, "carried_references", lambda **kw: scans.append(kw) or real_scan(**kw))
    assert reconcile(file, dry_run=True).summary["matched_lines"] == 1
    assert scans == []
    file.carried_references = None  # imported before the import recorded them
    file.save(update_fields=["carried_references"])
    assert reconcile(file, dry_run=True).summary["matched_lines"] == 1
    assert len(scans) == 1


def test_missing_in_bank_covers_only_the_payment_modes_the_rules_cover(core_rows, gateway_file, rules, reconcile):
    rules({"reference": "txn_id", "payment_modes": ["UPI"]})
    upi = core_rows.transaction(payment_mode="UPI")
    missing_upi = core_rows.transaction(payment_mode="UPI")
    core_rows.transaction(payment_mode="Net Banking")  # no rule reconciles net banking: not reported
    run = reconcile(gateway_file([gateway_line(txn_id=upi["txn_id"])]))
    assert [(m.type, m.txn_id) for m in Mismatch.objects.filter(run=run)] == [("MISSING_IN_BANK", missing_upi["txn_id"])]


def test_core_in_another_database_is_copied_into_a_staging_table(core_rows, gateway_file, rules, reconcile, monkeypatch):
    from enhancements.reconciliation import core_window

    rules({"reference": "txn_id"})
    copies = []
    real_copy = core_window._copy_window_from_core

    def counting_copy(cursor, **window):
        copies.append(window)
        return real_copy(cursor, **window)

    monkeypatch.setattr(core_window, "core_is_same_database", lambda: False)
    monkeypatch.setattr(core_window, "_copy_window_from_core", counting_copy)
    t = core_rows.transaction(paid_amount=99.99, act_amount=99.99, trans_date=dt.datetime(2026, 11, 20, 23, 45, 10))
    run = reconcile(gateway_file([gateway_line(txn_id=t["txn_id"], amount="99.99")]))
    result = ReconResult.objects.get(run=run)
    assert result.outcome == "MATCHED"
    # The core's naive India time, as the instant it names.
    assert result.trans_date == dt.datetime(2026, 11, 20, 18, 15, 10, tzinfo=dt.UTC)
    assert len(copies) == 1  # the window was streamed out of `core`, not read across databases


def test_results_name_the_core_time_as_an_instant_and_the_session_keeps_its_time_zone(
    core_rows, gateway_file, rules, reconcile
):
    rules({"reference": "txn_id"})
    late = core_rows.transaction(trans_date=dt.datetime(2026, 11, 20, 23, 45, 10))
    early = core_rows.transaction(trans_date=dt.datetime(2026, 11, 21, 0, 5))
    with connection.cursor() as cursor:
        cursor.execute("SHOW TimeZone")
        (zone,) = cursor.fetchone()
    run = reconcile(gateway_file([gateway_line(txn_id=late["txn_id"]), gateway_line(txn_id=early["txn_id"])]))
    assert dict(ReconResult.objects.filter(run=run).values_list("txn_id", "trans_date")) == {
        late["txn_id"]: dt.datetime(2026, 11, 20, 18, 15, 10, tzinfo=dt.UTC),
        early["txn_id"]: dt.datetime(2026, 11, 20, 18, 35, tzinfo=dt.UTC),
    }
    with connection.cursor() as cursor:
        cursor.execute("SHOW TimeZone")
        assert cursor.fetchone() == (zone,)


def test_window_reads_a_canonical_code_as_the_normalised_status_does():
    """The window's paid test compares canonical codes as they are, every other cell after trimming
    and padding: the same answer for every code and word, and the core's own reading (normalise_status)."""
    from core_legacy.conversions import LegacyValueError, PaymentStatus, normalise_status
    from enhancements.reconciliation.core_window import NORMALISED_PAID_SQL, PAID_SQL

    money_moved = {PaymentStatus.SUCCESS, PaymentStatus.SETTLED, PaymentStatus.REFUND_INITIATED, PaymentStatus.REFUNDED}
    codes = ["0000", "0100", "0200", "0300", "0400", "0600", "0700", "0800", "0", "300", " 0800 ", "00000", "0500",
             "E05", "NA", "\t0300\n", " ", "", None]  # fmt: skip
    words = ["SUCCESS", "Success", " paid ", "settled", "REFUND_INITIATED", "refund-initiated", "FAILED", "failed", "INITIATED",
             "pending", "", None]  # fmt: skip
    pairs = [(code, word) for code in codes for word in words]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT sabpaisa_resp_code, status, {PAID_SQL}, {NORMALISED_PAID_SQL} "
            f"FROM unnest(%s::text[], %s::text[]) AS v(sabpaisa_resp_code, status)",
            [[c for c, _ in pairs], [w for _, w in pairs]],
        )
        rows = cursor.fetchall()
    assert len(rows) == len(pairs)
    for code, word, paid, normalised in rows:
        assert paid is normalised, (code, word)
        try:
            status = normalise_status(word, code, table="transaction_detail", key=1)[0]
        except LegacyValueError:
            status = None
        assert paid is (status in money_moved), (code, word)


def test_file_without_dates_needs_a_window(core_rows, import_file, rules, reconcile):
    from enhancements.reconciliation.models import MappingProfileRecord
    from enhancements.reconciliation.services import ReconciliationError

    rules({"reference": "txn_id"})
    MappingProfileRecord.objects.create(name="no-dates", source="bank", file_format="csv",
                                        columns={"txn_id": "Ref", "amount": "Amount"}, date_formats=["%Y-%m-%d"])  # fmt: skip
    t = core_rows.transaction()
    file = import_file(f"Ref,Amount\n{t['txn_id']},1000\n".encode(), profile="no-dates")
    with pytest.raises(ReconciliationError, match="give the run a date window"):
        reconcile(file)
    run = reconcile(file, window=(dt.date(2026, 11, 20), dt.date(2026, 11, 20)))
    assert ReconResult.objects.get(run=run).txn_id == t["txn_id"]


def test_enhancement_recon_table_is_distinct_from_the_legacy_one(db):
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT table_schema, string_agg(column_name, ',' ORDER BY ordinal_position)
            FROM information_schema.columns WHERE table_name = 'transaction_recon_table'
            GROUP BY table_schema ORDER BY table_schema"""
        )
        tables = dict(cursor.fetchall())
    from django.conf import settings

    assert set(tables) == {settings.ENHANCEMENT_DB_SCHEMA, settings.CORE_DB_SCHEMA}
    assert "mismatch_type" in tables[settings.ENHANCEMENT_DB_SCHEMA].split(",")
    assert "transaction_id" in tables[settings.CORE_DB_SCHEMA].split(",")
    assert ReconResult._meta.db_table == "transaction_recon_table"


def test_window_paisa_rounding_and_expected_net_are_exactly_round_numeric():
    import random

    from django.db import connection

    from enhancements.reconciliation.core_window import net_sql, paise_sql

    rng = random.Random(5)
    values = [1.005, 2.675, 0.1 + 0.2, -0.005, 0.015, 1234.565, 1e9, 999999999.995, 123456789.125, -7.499999999,
              0.0, -0.0, 5e-7, 1e-9, 12.345000001, float("nan"), float("inf"), float("-inf"), None]  # fmt: skip
    values += [rng.randint(-10**9, 10**9) / 100 for _ in range(300)] + [rng.uniform(-1e10, 1e10) for _ in range(300)]
    values += [round(rng.uniform(0, 1e5), 3) for _ in range(300)] + [rng.randint(0, 10**6) / 100 * 3 for _ in range(300)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM unnest(%s::float8[]) AS v(x) "
            f"WHERE ({paise_sql('x')})::text IS DISTINCT FROM (round(x::numeric, 2))::text",
            [values],
        )
        assert cursor.fetchone()[0] == 0
        # The expected net: amount minus three charges, each rounded to the paisa first.
        finite = [v for v in values if v is None or abs(v) < 1e15]  # numeric cannot hold NaN minus infinity
        rows = [[rng.choice(finite) for _ in range(4)] for _ in range(3000)]
        rows += [[rng.randint(0, 10**7) / 100, rng.randint(0, 500) / 100, 0.0, rng.randint(0, 90) / 100] for _ in range(500)]
        cursor.execute(
            f"SELECT count(*), count(*) FILTER (WHERE ({net_sql('a', ['b', 'c', 'd'])}) IS DISTINCT FROM "
            f"round(a::numeric, 2) - round(b::numeric, 2) - round(c::numeric, 2) - round(d::numeric, 2) "
            f"OR ({net_sql('a', ['b', 'c', 'd'])})::text IS DISTINCT FROM "
            f"(round(a::numeric, 2) - round(b::numeric, 2) - round(c::numeric, 2) - round(d::numeric, 2))::text) "
            f"FROM unnest(%s::float8[], %s::float8[], %s::float8[], %s::float8[]) AS v(a, b, c, d)",
            [list(column) for column in zip(*rows, strict=True)],
        )
        assert cursor.fetchone() == (len(rows), 0)
