"""Event -> webhook body through the event type's current template (webhook_templates).

Body (Standard Webhooks' recommended envelope): {"type", "timestamp", "data"}. The body is
rendered once, at enqueue time, and stored on the delivery: a later template change never
alters what an already-queued event sends.
"""

from __future__ import annotations

import json

from django.core.serializers.json import DjangoJSONEncoder

from . import conf
from .models import WebhookTemplate


class PayloadTooLarge(ValueError):
    pass


def current_templates() -> dict[str, WebhookTemplate]:
    """The highest active version per event type."""
    templates: dict[str, WebhookTemplate] = {}
    for template in WebhookTemplate.objects.filter(is_active=True).order_by("event_type", "version"):
        templates[template.event_type] = template
    return templates


def render(*, event_type: str, occurred_at: str, payload: dict, template: WebhookTemplate | None) -> tuple[str, int | None]:
    """Returns (JSON body, template version). Raises PayloadTooLarge above the size limit."""
    if template is not None and template.fields:
        data = {key: payload[key] for key in template.fields if key in payload}
    else:
        data = dict(payload)
    if template is not None and template.rename:
        data = {template.rename.get(key, key): value for key, value in data.items()}
    body = json.dumps({"type": event_type, "timestamp": occurred_at, "data": data}, cls=DjangoJSONEncoder,
                      separators=(",", ":"), ensure_ascii=False)  # fmt: skip
    size = len(body.encode())
    limit = conf.max_body_bytes()
    if size > limit:
        raise PayloadTooLarge(f"webhook body for {event_type} is {size:,} bytes; the limit is {limit:,} bytes")
    return body, (template.version if template is not None else None)
