"""Refund requests, their approval trail, bulk batches and inbound gateway callbacks.

A refund references the core transaction by txn_id only (no FK into the core). Its
state machine is declared with django-fsm-2 transitions on the model; services are the
only callers (they add locking, validation, maker-checker, the trail and events).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import FSMField, transition


class RefundState(models.TextChoices):
    PENDING_APPROVAL = "PENDING_APPROVAL"
    RETURNED = "RETURNED", "Returned for correction"
    APPROVED = "APPROVED"
    PROCESSING = "PROCESSING", "Sent to the core gateway"
    UNKNOWN = "UNKNOWN", "Outcome unknown (status enquiry pending)"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"


# Money reserved against the transaction's balance, not yet reflected in core refunded_amount.
IN_FLIGHT_STATES = (
    RefundState.PENDING_APPROVAL, RefundState.RETURNED, RefundState.APPROVED, RefundState.PROCESSING, RefundState.UNKNOWN,
)  # fmt: skip
FINAL_STATES = (RefundState.COMPLETED, RefundState.FAILED, RefundState.REJECTED, RefundState.CANCELLED)


class RefundSource(models.TextChoices):
    OPERATOR = "OPERATOR"
    MERCHANT = "MERCHANT"
    BATCH = "BATCH"
    CORE = "CORE", "Core refund_request_from_client"


class ApprovalLevel(models.TextChoices):
    L1 = "L1", "Level 1"
    L2 = "L2", "Level 2"
    FINANCE = "FINANCE", "Finance"


LEVEL_PERMISSIONS = {
    ApprovalLevel.L1: "refunds.approve_refund_l1",
    ApprovalLevel.L2: "refunds.approve_refund_l2",
    ApprovalLevel.FINANCE: "refunds.approve_refund_finance",
}


class _Approvable(models.Model):
    approval_levels = models.JSONField(default=list, help_text="levels this request needs, in order (from the amount tier)")
    approvals_done = models.PositiveSmallIntegerField(default=0)

    class Meta:
        abstract = True

    @property
    def next_level(self) -> str | None:
        levels = self.approval_levels or []
        return levels[self.approvals_done] if self.approvals_done < len(levels) else None


class RefundBatch(_Approvable):
    class State(models.TextChoices):
        DRAFT = "DRAFT", "Validated, not submitted (preview)"
        PENDING_APPROVAL = "PENDING_APPROVAL"
        RETURNED = "RETURNED", "Returned for correction"
        APPROVED = "APPROVED"
        REJECTED = "REJECTED"
        CANCELLED = "CANCELLED"

    id = models.BigAutoField(primary_key=True)
    file_name = models.CharField(max_length=255)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    state = FSMField(default=State.DRAFT, choices=State.choices, protected=False)
    total_rows = models.PositiveIntegerField(default=0)
    accepted_rows = models.PositiveIntegerField(default=0)
    rejected_rows = models.PositiveIntegerField(default=0)
    accepted_amount = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "refund_batch"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"Batch #{self.pk} {self.file_name} ({self.state})"

    @transition(field=state, source=State.DRAFT, target=State.PENDING_APPROVAL)
    def submit(self): ...

    @transition(field=state, source=State.PENDING_APPROVAL, target=State.PENDING_APPROVAL)
    def approve_level(self): ...

    @transition(field=state, source=State.PENDING_APPROVAL, target=State.APPROVED)
    def approve_final(self): ...

    @transition(field=state, source=[State.PENDING_APPROVAL, State.RETURNED], target=State.REJECTED)
    def reject(self): ...

    @transition(field=state, source=State.PENDING_APPROVAL, target=State.RETURNED)
    def return_for_correction(self): ...

    @transition(field=state, source=[State.DRAFT, State.PENDING_APPROVAL, State.RETURNED], target=State.CANCELLED)
    def cancel(self): ...


class RefundBatchItem(models.Model):
    class Verdict(models.TextChoices):
        ACCEPTED = "ACCEPTED"
        REJECTED = "REJECTED"

    id = models.BigAutoField(primary_key=True)
    batch = models.ForeignKey(RefundBatch, on_delete=models.CASCADE, related_name="items")
    row_number = models.PositiveIntegerField(help_text="line in the uploaded file (header is line 1)")
    txn_id = models.CharField(max_length=64, blank=True)
    client_code = models.CharField(max_length=64, blank=True)
    client_txn_id = models.CharField(max_length=128, blank=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    reason = models.CharField(max_length=255, blank=True)
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    rule = models.CharField(max_length=40, blank=True, help_text="the validation rule that refused the row")
    message = models.CharField(max_length=500, blank=True)
    refund = models.OneToOneField("RefundRequest", on_delete=models.SET_NULL, null=True, blank=True, related_name="batch_item")

    class Meta:
        db_table = "refund_batch_items"
        ordering = ["batch", "row_number"]
        constraints = [models.UniqueConstraint(fields=["batch", "row_number"], name="refund_batch_item_row_once")]


class RefundRequest(_Approvable):
    id = models.BigAutoField(primary_key=True)
    reference = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, help_text="public id (API)")
    idempotency_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False,
                                       help_text="sent to the core gateway: a retry never refunds twice")  # fmt: skip
    source = models.CharField(max_length=10, choices=RefundSource.choices)
    txn_id = models.CharField(max_length=64)
    client_id = models.IntegerField(null=True, blank=True)
    client_code = models.CharField(max_length=64, blank=True)
    client_txn_id = models.CharField(max_length=128, blank=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True,
                                 help_text="empty only for a core request refused at intake whose amount is unreadable")  # fmt: skip
    reason = models.CharField(max_length=255, blank=True)
    paid_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True, help_text="core, when raised")
    trans_date = models.DateTimeField(null=True, blank=True)
    payment_mode = models.CharField(max_length=64, blank=True)
    state = FSMField(default=RefundState.PENDING_APPROVAL, choices=RefundState.choices, protected=False)
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    raised_by_label = models.CharField(max_length=150, help_text="operator username, merchant:<code> or core")
    batch = models.ForeignKey(RefundBatch, on_delete=models.PROTECT, null=True, blank=True, related_name="refunds")
    core_refund_id = models.IntegerField(null=True, blank=True, unique=True, help_text="refund_request_from_client.refund_id")
    rejection_rule = models.CharField(max_length=40, blank=True)
    # RBI TAT (enhancements/regulatory/tat.py): T is the day the refund was requested.
    requested_on = models.DateField(help_text="T for the TAT (India date)")
    tat_channel = models.CharField(max_length=20)
    tat_deadline = models.DateField()
    gateway_refund_id = models.CharField(max_length=64, blank=True)
    gateway_message = models.CharField(max_length=500, blank=True)
    gateway_attempts = models.PositiveSmallIntegerField(default=0)
    next_enquiry_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "refund_request"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["txn_id", "state"], name="refund_req_txn_state"),
            models.Index(fields=["client_id", "id"], name="refund_req_client"),
            models.Index(fields=["state", "next_enquiry_at"], name="refund_req_state_enquiry"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0) | Q(amount__isnull=True, state="REJECTED"),
                                   name="refund_req_amount_positive"),  # fmt: skip
        ]
        permissions = [
            ("approve_refund_l1", "Can approve refunds at level 1"),
            ("approve_refund_l2", "Can approve refunds at level 2"),
            ("approve_refund_finance", "Can approve refunds at the finance level"),
        ]

    def __str__(self) -> str:
        return f"Refund #{self.pk} {self.txn_id} Rs {self.amount} ({self.state})"

    @transition(field=state, source=RefundState.PENDING_APPROVAL, target=RefundState.PENDING_APPROVAL)
    def approve_level(self): ...

    @transition(field=state, source=RefundState.PENDING_APPROVAL, target=RefundState.APPROVED)
    def approve_final(self): ...

    @transition(field=state, source=[RefundState.PENDING_APPROVAL, RefundState.RETURNED], target=RefundState.REJECTED)
    def reject(self): ...

    @transition(field=state, source=RefundState.PENDING_APPROVAL, target=RefundState.RETURNED)
    def return_for_correction(self): ...

    @transition(field=state, source=RefundState.RETURNED, target=RefundState.PENDING_APPROVAL)
    def resubmit(self): ...

    @transition(field=state, source=[RefundState.PENDING_APPROVAL, RefundState.RETURNED, RefundState.APPROVED],
                target=RefundState.CANCELLED)  # fmt: skip
    def cancel(self): ...

    @transition(field=state, source=RefundState.APPROVED, target=RefundState.PROCESSING)
    def start_processing(self): ...

    @transition(field=state, source=[RefundState.PROCESSING, RefundState.UNKNOWN], target=RefundState.COMPLETED)
    def complete(self): ...

    @transition(field=state, source=[RefundState.PROCESSING, RefundState.UNKNOWN], target=RefundState.FAILED)
    def fail(self): ...

    @transition(field=state, source=RefundState.PROCESSING, target=RefundState.UNKNOWN)
    def mark_unknown(self): ...

    @transition(field=state, source=RefundState.UNKNOWN, target=RefundState.PROCESSING)
    def gateway_accepted(self): ...

    @transition(field=state, source=[RefundState.UNKNOWN, RefundState.PROCESSING], target=RefundState.APPROVED)
    def requeue_not_received(self): ...


class RefundApprovalWorkflow(models.Model):
    """One row per action and state change of a refund or batch: who, when, what, why."""

    id = models.BigAutoField(primary_key=True)
    refund = models.ForeignKey(RefundRequest, on_delete=models.CASCADE, null=True, blank=True, related_name="workflow")
    batch = models.ForeignKey(RefundBatch, on_delete=models.CASCADE, null=True, blank=True, related_name="workflow")
    action = models.CharField(max_length=40)
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20)
    level = models.CharField(max_length=10, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    actor_label = models.CharField(max_length=150, help_text="username, merchant:<code>, system, gateway")
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "refund_approval_workflow"
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(refund__isnull=False) | Q(batch__isnull=False), name="refund_wf_has_subject")
        ]
        indexes = [models.Index(fields=["refund", "id"], name="refund_wf_refund")]


class InboundCallback(models.Model):
    """A callback from the core gateway, stored raw before anything else is done with it."""

    class Status(models.TextChoices):
        RECEIVED = "RECEIVED"
        PROCESSED = "PROCESSED"
        DUPLICATE = "DUPLICATE", "Duplicate (already processed)"
        SIGNATURE_REJECTED = "SIGNATURE_REJECTED"
        INVALID = "INVALID", "Invalid payload"
        FAILED = "FAILED", "Processing failed"
        STORED = "STORED", "Stored (no refund action)"

    id = models.BigAutoField(primary_key=True)
    source = models.CharField(max_length=40, default="core_gateway")
    headers = models.JSONField(default=dict)
    body = models.TextField()
    remote_addr = models.CharField(max_length=64, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    signature_valid = models.BooleanField(null=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RECEIVED)
    error = models.TextField(blank=True)
    event_id = models.CharField(max_length=200, blank=True, db_index=True)
    event_type = models.CharField(max_length=40, blank=True)
    refund = models.ForeignKey(RefundRequest, on_delete=models.SET_NULL, null=True, blank=True, related_name="callbacks")
    attempts = models.PositiveSmallIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "refund_inbound_callbacks"
        ordering = ["-id"]
        constraints = [
            # The same gateway event is applied at most once (a re-post becomes DUPLICATE).
            models.UniqueConstraint(fields=["source", "event_id"], condition=Q(status="PROCESSED"),
                                    name="refund_callback_processed_once"),  # fmt: skip
        ]
