from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from ..models import Alert, AuditEntry, CaseNote
from ..selectors import str_days_left
from .forms import CaseActionForm


class CaseNoteInline(admin.TabularInline):
    model = CaseNote
    extra = 0
    can_delete = False
    fields = readonly_fields = ("created_at", "author", "body", "attachment_refs")

    def has_add_permission(self, request, obj=None):
        return False


def audit_trail_html(object_type: str, object_id: int):
    entries = AuditEntry.objects.filter(object_type=object_type, object_id=object_id).select_related("actor")
    return format_html(
        "<table>{}</table>",
        format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                         ((timezone.localtime(e.at).strftime("%Y-%m-%d %H:%M"), e.actor or "system", e.action, e.changes)
                          for e in entries)),
    ) if entries else "-"


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    form = CaseActionForm
    list_display = ("id", "rule_code", "severity", "status", "entity_display", "client_code", "observed_amount",
                    "assigned_to", "created_at", "str_due_on", "str_days_left")
    list_filter = ("status", "severity", "rule_code", ("assigned_to", admin.RelatedOnlyFieldListFilter))
    search_fields = ("client_code__exact", "entity_key__exact", "=id")
    list_select_related = ("assigned_to",)
    inlines = [CaseNoteInline]
    show_full_result_count = False
    readonly_fields = ("rule_code", "severity", "status", "resolution", "entity_type", "entity_display", "window_key",
                       "window_start", "window_end", "client_id", "client_code", "observed_amount", "observed_count",
                       "threshold", "evidence", "assigned_to", "str_decided_at", "str_decided_by", "str_due_on",
                       "str_days_left", "str_grounds", "str_filed_at", "str_reference", "created_at", "updated_at",
                       "closed_at", "audit_trail")  # fmt: skip
    fieldsets = (
        ("Alert", {"fields": ("rule_code", "severity", "status", "resolution", "entity_type", "entity_display",
                              "client_id", "client_code", "window_key", "window_start", "window_end", "threshold",
                              "observed_amount", "observed_count", "evidence")}),
        ("Case", {"fields": ("assigned_to", "created_at", "updated_at", "closed_at")}),
        ("STR", {"fields": ("str_decided_at", "str_decided_by", "str_due_on", "str_days_left", "str_grounds",
                            "str_filed_at", "str_reference")}),
        ("Act on this case", {"fields": ("action", "assignee", "resolve_as", "text", "attachment_refs", "reference")}),
        ("Audit trail", {"fields": ("audit_trail",)}),
    )  # fmt: skip

    @admin.display(description="STR working days left")
    def str_days_left(self, obj: Alert):
        left = str_days_left(obj)
        if left is None:
            return "-"
        return format_html('<b style="color:#ba2121">{} overdue</b>', -left) if left < 0 else left

    @admin.display(description="Audit trail")
    def audit_trail(self, obj: Alert):
        return audit_trail_html("alert", obj.pk) if obj.pk else "-"

    def has_add_permission(self, request):
        return False  # alerts come from the rules, never typed in

    def has_delete_permission(self, request, obj=None):
        return False

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        actor = request.user

        class BoundCaseForm(form):
            def clean(self):
                cleaned = super().clean()
                if not self.errors:
                    # The service call is the validation: a refused move becomes a form error, nothing half-done.
                    self.applied = self.apply(actor)
                return cleaned

        return BoundCaseForm

    def save_model(self, request, obj, form, change):
        # The action already ran in the service; saving the (stale) instance would undo it.
        if getattr(form, "applied", None):
            messages.success(request, f"{form.applied}: done.")
