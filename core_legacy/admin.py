"""Read-only admin for the core tables: look, search, filter; never add, change or delete."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.utils.html import format_html

from . import models as core
from .admin_pagination import CappedCountPaginator
from .conversions import CODE_BY_STATUS, STATUS_BY_WORD, PaymentStatus, money_from_float, normalise_status
from .errors import LegacyValueError
from .read_models import mask

SENSITIVE_COLUMNS = {"payee_email", "payee_mob", "vpa", "client_pass", "auth_key", "auth_iv", "ep_pass",
                     "ep_passwd", "password", "salt", "mobile_number", "email", "payee_email", "payee_mobile",
                     "client_contact", "mobile_no", "email_id"}  # fmt: skip


class ReadOnlyLegacyAdmin(admin.ModelAdmin):
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    actions = None

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    # Django opens a write transaction (router.db_for_write) before checking permissions
    # on POSTs; answer 403 first so nothing ever asks for a core write.
    def delete_view(self, request, object_id, extra_context=None):
        raise PermissionDenied("The payment core is read-only.")

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied("The payment core is read-only.")
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_fields(self, request, obj=None):
        fields = []
        for field in self.model._meta.concrete_fields:
            fields.append(f"masked_{field.name}" if field.column in SENSITIVE_COLUMNS else field.name)
        return fields

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def __getattr__(self, name):
        # masked_<field>: a read-only display of a sensitive column, last 4 characters only.
        if name.startswith("masked_"):
            field_name = name[len("masked_"):]

            def display(obj, _f=field_name):
                return mask(getattr(obj, _f))

            display.short_description = field_name.replace("_", " ") + " (masked)"
            return display
        raise AttributeError(name)


class NormalisedStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [(s.value, s.value.replace("_", " ").title()) for s in PaymentStatus]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        status = PaymentStatus(self.value())
        words = [w for w, s in STATUS_BY_WORD.items() if s is status]
        # The code decides when present (see conversions.normalise_status).
        no_code = Q(sabpaisa_resp_code__isnull=True) | ~Q(sabpaisa_resp_code__in=list(CODE_BY_STATUS.values()))
        word_match = Q()
        for word in words:
            word_match |= Q(status__iexact=word)
        return queryset.filter(Q(sabpaisa_resp_code=CODE_BY_STATUS[status]) | (no_code & word_match))


class PaymentModeFilter(admin.SimpleListFilter):
    title = "payment mode"
    parameter_name = "mode"

    def lookups(self, request, model_admin):
        return [(str(m.paymode_id), m.paymode_name) for m in core.PaymentMode.objects.order_by("paymode_id")]

    def queryset(self, request, queryset):
        return queryset.filter(payment_mode_id=int(self.value())) if self.value() else queryset


@admin.register(core.TransactionDetail)
class TransactionDetailAdmin(ReadOnlyLegacyAdmin):
    list_display = ("txn_id", "trans_date", "client_code", "client_txn_id", "status_display", "paid", "payment_mode")
    list_filter = (NormalisedStatusFilter, PaymentModeFilter, ("trans_date", admin.DateFieldListFilter))
    search_help_text = "Exact txn_id, client_code, client_txn_id or bank_txn_id."
    search_fields = ("txn_id",)  # enables the box; the search itself is get_search_results
    ordering = ("-trans_date",)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        # Indexed lookups first (txn_id leads the key, client_code has an index); the
        # unindexed references only when those find nothing, so a txn_id search stays fast.
        for lookup in (Q(txn_id=term), Q(client_code=term)):
            if queryset.filter(lookup).exists():
                return queryset.filter(lookup), False
        return queryset.filter(Q(client_txn_id=term) | Q(bank_txn_id=term) | Q(bank_txn_id_quoted=term)), False

    @admin.display(description="status")
    def status_display(self, obj):
        try:
            status, conflict = normalise_status(obj.status, obj.sabpaisa_resp_code, table="transaction_detail", key=obj.txn_id)
        except LegacyValueError:
            return format_html('<span title="{}">? {}</span>', "unparseable status", obj.status or "")
        if conflict:
            return format_html('<span title="status {} / code {}">{} ⚠</span>', obj.status, obj.sabpaisa_resp_code, status.value)
        return status.value

    @admin.display(description="paid (₹)")
    def paid(self, obj):
        try:
            return money_from_float(obj.paid_amount, table="transaction_detail", key=obj.txn_id, column="paid_amount")
        except LegacyValueError:
            return "invalid"


@admin.register(core.ClientDataTable)
class ClientDataTableAdmin(ReadOnlyLegacyAdmin):
    list_display = ("client_id", "client_code", "client_name", "active", "refund_applicable", "is_whitelisted", "client_disable_flag")
    search_fields = ("client_code__exact", "client_name__icontains")
    list_filter = ("active", "is_whitelisted", "client_disable_flag", "refund_applicable")
    ordering = ("client_id",)


@admin.register(core.RefundRequestFromClient)
class RefundRequestFromClientAdmin(ReadOnlyLegacyAdmin):
    list_display = ("refund_id", "sp_txn_id", "client_code", "client_txn_id", "amount", "refund_init_date", "refund_complete_date")
    search_fields = ("sp_txn_id__exact", "client_txn_id__exact", "client_code__exact")
    ordering = ("-refund_id",)


@admin.register(core.SettlementDataT)
class SettlementDataTAdmin(ReadOnlyLegacyAdmin):
    list_display = ("id", "txn_id", "client_code", "settlement_date", "settlement_amount", "settlement_utr")
    search_fields = ("txn_id__exact", "settlement_utr__exact", "client_code__exact")
    ordering = ("-id",)


_simple = [
    core.PaymentMode, core.EndpointDataTable, core.PartnerBank, core.PaymentStatusMaster, core.FeeDataTable,
    core.ClientPaymentMode, core.ClientEpMappingsConfiguration, core.SettledTransactions, core.TransactionsToSettle,
    core.LegacyTransactionReconTable, core.ReconciliationData, core.GatewayResponse, core.AdminUser,
]  # fmt: skip
for _model in _simple:
    _fields = [f.name for f in _model._meta.concrete_fields if f.column not in SENSITIVE_COLUMNS][:7]
    admin.site.register(_model, type(f"{_model.__name__}Admin", (ReadOnlyLegacyAdmin,), {"list_display": _fields}))
