from __future__ import annotations

from django import forms


class RaiseRefundForm(forms.Form):
    txn_id = forms.CharField(required=False, max_length=64, label="Core txn_id")
    client_code = forms.CharField(required=False, max_length=64)
    client_txn_id = forms.CharField(required=False, max_length=128)
    amount = forms.CharField(max_length=20, help_text="rupees, e.g. 150.00")
    reason = forms.CharField(max_length=255, widget=forms.TextInput(attrs={"size": 60}))

    def clean(self):
        data = super().clean()
        if not data.get("txn_id") and not (data.get("client_code") and data.get("client_txn_id")):
            raise forms.ValidationError("Give the core txn_id, or client_code and client_txn_id.")
        return data


class DecisionForm(forms.Form):
    ACTIONS = [("approve", "Approve"), ("reject", "Reject"), ("return", "Return for correction"), ("cancel", "Cancel"),
               ("submit", "Submit for approval")]  # fmt: skip
    action = forms.ChoiceField(choices=ACTIONS)
    comment = forms.CharField(required=False, max_length=2000)


class BatchUploadForm(forms.Form):
    file = forms.FileField(help_text="CSV or XLSX with columns txn_id (or client_code + client_txn_id), amount, reason")
