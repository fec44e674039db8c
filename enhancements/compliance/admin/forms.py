"""The case form: one workflow action per save, carried out by the services (never by field edits)."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from ..models import Alert, Resolution
from ..services import (
    WorkflowError,
    alert_assign,
    alert_escalate,
    alert_file_str,
    alert_mark_for_str,
    alert_resolve,
    alert_start_review,
    case_note_add,
)

ACTIONS = [
    ("", "---------"),
    ("note", "Add a note"),
    ("assign", "Assign"),
    ("review", "Start review"),
    ("escalate", "Escalate"),
    ("resolve", "Resolve"),
    ("mark_str", "Mark for STR (starts the 7-working-day clock)"),
    ("file_str", "Record STR filed"),
]


class CaseActionForm(forms.ModelForm):
    action = forms.ChoiceField(choices=ACTIONS, required=False)
    assignee = forms.ModelChoiceField(queryset=get_user_model().objects.filter(is_staff=True), required=False)
    resolve_as = forms.ChoiceField(choices=[("", "---------"), *Resolution.choices], required=False)
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False,
                           help_text="Note / reason / grounds of suspicion, as the action needs")
    attachment_refs = forms.CharField(required=False, help_text="Document references (DMS ids), comma-separated")
    reference = forms.CharField(required=False, help_text="FIU-IND acknowledgement number (for 'STR filed')")

    class Meta:
        model = Alert
        fields: list[str] = []

    def apply(self, actor) -> str | None:
        """Run the chosen action; returns a message, raises ValidationError leaving nothing changed."""
        data, alert_id = self.cleaned_data, self.instance.pk
        action, text = data.get("action"), (data.get("text") or "").strip()
        try:
            if action == "note":
                refs = [r for r in (data.get("attachment_refs") or "").split(",")]
                case_note_add(alert_id=alert_id, author=actor, body=text, attachment_refs=refs)
            elif action == "assign":
                alert_assign(alert_id=alert_id, assignee=data.get("assignee"), actor=actor)
            elif action == "review":
                alert_start_review(alert_id=alert_id, actor=actor)
            elif action == "escalate":
                alert_escalate(alert_id=alert_id, actor=actor, reason=text)
            elif action == "resolve":
                alert_resolve(alert_id=alert_id, actor=actor, resolution=data.get("resolve_as") or "", reason=text)
            elif action == "mark_str":
                alert_mark_for_str(alert_id=alert_id, actor=actor, grounds=text)
            elif action == "file_str":
                alert_file_str(alert_id=alert_id, actor=actor, reference=data.get("reference") or "")
            else:
                return None
        except WorkflowError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return dict(ACTIONS)[action]
