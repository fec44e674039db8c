"""With a real Celery worker: approval -> on-commit task -> gateway; change-feed event -> intake task."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from enhancements.events import outbox
from enhancements.refunds import services
from enhancements.refunds.models import RefundRequest, RefundSource, RefundState


@pytest.fixture
def gateway_env(simulator, monkeypatch):
    monkeypatch.setenv("CORE_GATEWAY_URL", simulator.url)  # read by the worker process's settings
    return simulator


def wait_for(predicate, timeout=40.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.3)
    return False


@pytest.mark.django_db(transaction=True, databases=["default", "core"])
def test_worker_executes_approved_refunds_and_takes_in_core_requests(gateway_env, celery_worker, people, paid_txn,
                                                                      core_rows, settings):  # fmt: skip
    settings.REFUND_AUTO_EXECUTE = True
    txn = paid_txn(900.0)
    refund = services.refund_create(amount="90", source=RefundSource.OPERATOR, txn_id=txn["txn_id"], actor=people["maker"])
    services.refund_approve(refund_id=refund.pk, actor=people["l1"])
    assert wait_for(lambda: RefundRequest.objects.get(pk=refund.pk).state == RefundState.COMPLETED)
    assert len([c for c in gateway_env.state.calls if c["path"] == "/v1/refunds"]) == 1

    row = core_rows.refund_request(amount="15", sp_txn_id=txn["txn_id"], client_code=txn["client_code"])
    outbox.publish(event_key=f"refund_request.received:{row['refund_id']}", type="refund_request.received",
                   payload={"refund_id": row["refund_id"]}, occurred_at=timezone.now())  # fmt: skip
    assert wait_for(lambda: RefundRequest.objects.filter(core_refund_id=row["refund_id"]).exists())
