"""Races with real threads and real row/advisory locks; a hypothesis state machine over the lifecycle."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
import requests
from django.db import connections
from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from core_legacy.selectors import transaction_get
from enhancements.refunds import services
from enhancements.refunds.errors import RefundError
from enhancements.refunds.execution import refund_execute, refund_resolve
from enhancements.refunds.models import RefundRequest, RefundSource, RefundState


def in_threads(n: int, target) -> list:
    """Run target(i) in n threads released together; returns each result or exception."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i):
        try:
            barrier.wait()
            results[i] = target(i)
        except Exception as exc:  # collected and asserted on by the test
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def posts(simulator):
    return [c for c in simulator.state.calls if c["path"] == "/v1/refunds"]


@pytest.mark.django_db(transaction=True, databases=["default", "core"])
def test_20_concurrent_executions_or_approvals_make_one_gateway_call(people, paid_txn, simulator):
    # (One test for both: a transactional test's flush is the slow part.)
    txn = paid_txn(1000.0)
    executed = services.refund_create(amount="300", source=RefundSource.OPERATOR, txn_id=txn["txn_id"], actor=people["maker"])
    services.refund_approve(refund_id=executed.pk, actor=people["l1"])
    results = in_threads(20, lambda i: refund_execute(refund_id=executed.pk).state)
    assert set(results) <= {RefundState.COMPLETED, RefundState.PROCESSING}, results
    executed.refresh_from_db()
    assert executed.state == RefundState.COMPLETED
    assert len(posts(simulator)) == 1
    assert transaction_get(txn_id=txn["txn_id"]).refunded_amount == Decimal("300.00")
    assert executed.workflow.filter(action="complete").count() == 1

    approved = services.refund_create(amount="200", source=RefundSource.OPERATOR, txn_id=txn["txn_id"], actor=people["maker"])

    def approve_then_execute(i):  # what the admin click + on-commit task do
        try:
            services.refund_approve(refund_id=approved.pk, actor=people["l1" if i % 2 else "boss"])
        except RefundError as exc:
            return type(exc).__name__
        refund_execute(refund_id=approved.pk)
        return "approved"

    results = in_threads(20, approve_then_execute)
    assert results.count("approved") == 1, results
    approved.refresh_from_db()
    assert approved.state == RefundState.COMPLETED and approved.approvals_done == 1
    assert len(posts(simulator)) == 2  # one per refund
    assert approved.workflow.filter(action="approve").count() == 1
    assert transaction_get(txn_id=txn["txn_id"]).refunded_amount == Decimal("500.00")


@pytest.mark.django_db(transaction=True, databases=["default", "core"])
def test_races_for_the_last_balance(people, paid_txn, core_rows):
    # 20 requests for the last Rs 100: one is raised.
    last = paid_txn(500.0, refunded_amount=400.0)
    results = in_threads(20, lambda i: services.refund_create(amount="100", source=RefundSource.OPERATOR,
                                                               txn_id=last["txn_id"], actor=people["maker"]))  # fmt: skip
    created = [r for r in results if isinstance(r, RefundRequest)]
    assert len(created) == 1
    assert all(getattr(r, "rule", None) == "amount_exceeds_balance" for r in results if r not in created), results

    # Two pending refunds, and the core refunds 300 on its own: only one of the two still fits.
    txn = paid_txn(1000.0)
    a = services.refund_create(amount="600", source=RefundSource.OPERATOR, txn_id=txn["txn_id"], actor=people["maker"])
    b = services.refund_create(amount="400", source=RefundSource.OPERATOR, txn_id=txn["txn_id"], actor=people["maker"])
    core_rows.execute("UPDATE transaction_detail SET refunded_amount = 300 WHERE txn_id = %s", [txn["txn_id"]])
    ids = [a.pk, b.pk] * 5
    results = in_threads(10, lambda i: services.refund_approve(refund_id=ids[i], actor=people["l1" if i < 5 else "boss"]))
    approved = RefundRequest.objects.filter(pk__in=[a.pk, b.pk], state=RefundState.APPROVED)
    assert approved.count() == 1, results
    assert any(getattr(r, "rule", None) == "amount_exceeds_balance" for r in results)


@pytest.mark.django_db(databases=["default", "core"])
def test_lifecycle_state_machine(people, paid_txn, simulator, settings):
    settings.CORE_GATEWAY_TIMEOUT_S = 0.2
    settings.REFUND_ENQUIRY_DELAY_S = 0
    settings.REFUND_MAX_PER_TXN = 50
    paid = Decimal("1000.00")
    seen: set[str] = set()

    class Lifecycle(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.txn = paid_txn(float(paid))
            self.ids: list[int] = []

        def pick(self, data, *prefer):
            """Any refund, but one in a `prefer` state if there is one (reaches deep states sooner)."""
            preferred = list(RefundRequest.objects.filter(pk__in=self.ids, state__in=prefer).order_by("pk")
                             .values_list("pk", flat=True))  # fmt: skip
            pool = preferred or self.ids
            return data.draw(st.sampled_from(pool)) if pool else None

        @initialize(amount=st.decimals(min_value="0.01", max_value="700", places=2))
        def first(self, amount):
            self.create(amount)

        @rule(amount=st.decimals(min_value="0.01", max_value="700", places=2))
        def create(self, amount):
            try:
                r = services.refund_create(amount=amount, source=RefundSource.OPERATOR, txn_id=self.txn["txn_id"],
                                           actor=people["maker"])  # fmt: skip
                self.ids.append(r.pk)
            except RefundError:
                pass

        @rule(data=st.data(), who=st.sampled_from(["l1", "l1", "maker", "boss"]))
        def approve(self, data, who):
            if (pk := self.pick(data, RefundState.PENDING_APPROVAL)) is not None:
                try:
                    services.refund_approve(refund_id=pk, actor=people[who])
                except RefundError:
                    pass

        @rule(data=st.data())
        def reject(self, data):
            if (pk := self.pick(data)) is not None:
                try:
                    services.refund_reject(refund_id=pk, actor=people["l1"], reason="no")
                except RefundError:
                    pass

        @rule(data=st.data())
        def execute(self, data):
            if (pk := self.pick(data, RefundState.APPROVED)) is not None:
                refund_execute(refund_id=pk)

        @rule(data=st.data())
        def execute_with_timeout(self, data):
            if (pk := self.pick(data, RefundState.APPROVED)) is not None:
                requests.post(simulator.url + "/_sim/behaviour", json={"mode": "timeout", "delay_s": 0.3, "times": 2}, timeout=5)
                refund_execute(refund_id=pk)
                requests.post(simulator.url + "/_sim/behaviour", json={"mode": "ok"}, timeout=5)

        @rule(data=st.data())
        def enquire(self, data):
            if (pk := self.pick(data, RefundState.UNKNOWN)) is not None:
                refund_resolve(refund_id=pk)

        @invariant()
        def refunded_never_exceeds_paid(self):
            core = transaction_get(txn_id=self.txn["txn_id"])
            completed = sum(RefundRequest.objects.filter(pk__in=self.ids, state=RefundState.COMPLETED)
                            .values_list("amount", flat=True), Decimal(0))  # fmt: skip
            unresolved = sum(RefundRequest.objects.filter(pk__in=self.ids, state__in=[RefundState.UNKNOWN, RefundState.PROCESSING])
                             .values_list("amount", flat=True), Decimal(0))  # fmt: skip
            core_refunded = core.refunded_amount or Decimal(0)
            assert core_refunded <= paid and completed <= paid
            # The core holds every completed refund, plus at most the ones whose outcome we don't know yet.
            assert completed <= core_refunded <= completed + unresolved
            seen.update(RefundRequest.objects.filter(pk__in=self.ids).values_list("state", flat=True))

        @invariant()
        def every_state_change_is_recorded(self):
            for refund in RefundRequest.objects.filter(pk__in=self.ids):
                chain = list(refund.workflow.values_list("from_state", "to_state"))
                assert chain[0] == ("", RefundState.PENDING_APPROVAL)
                for (_, before), (after_from, _) in zip(chain, chain[1:], strict=False):
                    assert after_from == before, chain
                assert chain[-1][1] == refund.state

    run_state_machine_as_test(Lifecycle, settings=hsettings(max_examples=8, stateful_step_count=12, deadline=None, derandomize=True,
                                                            suppress_health_check=list(HealthCheck)))  # fmt: skip
    # The machine really went through the interesting states (not a vacuous pass).
    assert {RefundState.COMPLETED, RefundState.UNKNOWN, RefundState.REJECTED} <= seen, seen
