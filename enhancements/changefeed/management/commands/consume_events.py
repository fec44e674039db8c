"""A test consumer: claim a registered consumer's outbox deliveries and print them.

    manage.py consume_events --consumer changefeed-audit [--limit 100] [--ack] [--follow]

Without --ack one batch is claimed and handed straight back (a peek that leaves it for
the real consumer; its attempt counter still goes up); with --ack the deliveries are
acknowledged. One JSON line per event.
"""

from __future__ import annotations

import datetime as dt
import json
import time

from django.core.management.base import BaseCommand, CommandError
from django.core.serializers.json import DjangoJSONEncoder

from enhancements.events import outbox
from enhancements.events.registry import registered_consumers


class Command(BaseCommand):
    help = "Claim, print and (with --ack) acknowledge outbox deliveries of one consumer."

    def add_arguments(self, parser):
        parser.add_argument("--consumer", required=True)
        parser.add_argument("--limit", type=int, default=100, help="deliveries per claim (1-1000)")
        parser.add_argument("--type", action="append", dest="types", help="only these event types (repeatable)")
        parser.add_argument("--ack", action="store_true", help="acknowledge what was printed")
        parser.add_argument("--follow", action="store_true", help="keep polling every --interval seconds")
        parser.add_argument("--interval", type=float, default=2.0)

    def handle(self, *args, consumer, limit, types, ack, follow, interval, **options):
        known = registered_consumers()
        if consumer not in known:
            raise CommandError(f"no consumer {consumer!r} is registered; registered: {', '.join(sorted(known)) or 'none'}")
        if not 1 <= limit <= 1000:
            raise CommandError("--limit must be between 1 and 1000")
        if follow and not ack:
            raise CommandError("--follow needs --ack (a peek hands deliveries back, so it would print them forever)")
        total = 0
        while True:
            claimed = outbox.claim(consumer=consumer, limit=limit, event_types=types)
            for c in claimed:
                e = c.event
                self.stdout.write(json.dumps({
                    "delivery_id": c.delivery_id, "attempts": c.attempts, "event_id": str(e.id), "type": e.type,
                    "event_key": e.event_key, "txn_id": e.txn_id, "client_code": e.client_code,
                    "occurred_at": e.occurred_at, "payload": e.payload,
                }, cls=DjangoJSONEncoder))  # fmt: skip
            ids = [c.delivery_id for c in claimed]
            if ack:
                outbox.ack(consumer=consumer, delivery_ids=ids)
            elif ids:
                outbox.retry(consumer=consumer, delivery_ids=ids, delay=dt.timedelta(0), error="")
            total += len(ids)
            if not ack:
                break  # a peek shows one batch: handed-back deliveries would be claimed again
            if not follow and len(ids) < limit:
                break
            if not ids:
                time.sleep(interval)
        self.stderr.write(f"[consume_events] {total} deliveries {'acknowledged' if ack else 'shown (not acknowledged)'}")
