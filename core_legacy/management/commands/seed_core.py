import datetime as dt
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core_legacy.owner import core_owner_connection
from core_legacy.seeding.generator import seed_core


class Command(BaseCommand):
    help = "Fill the demo/test core with realistic, deterministic data (plays the core; COPY through its own connection)."

    def add_arguments(self, parser):
        parser.add_argument("--transactions", type=int, default=10_000)
        parser.add_argument("--clients", type=int, default=50)
        parser.add_argument("--days", type=int, default=90)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--end-date", type=dt.date.fromisoformat, default=None, help="last day (default today)")
        parser.add_argument("--if-empty", action="store_true", help="do nothing when the core already has transactions")

    def handle(self, *args, **o):
        if settings.ENVIRONMENT == "production":
            raise CommandError("seed_core refuses to run with production settings.")
        if o["if_empty"]:
            from core_legacy.models import TransactionDetail

            if TransactionDetail.objects.exists():
                self.stdout.write("core already has transactions; nothing seeded")
                return
        started = time.monotonic()

        def progress(done: int, total: int) -> None:
            rate = done / max(time.monotonic() - started, 1e-9)
            sys.stderr.write(f"\rseed_core: {done:,}/{total:,} transactions ({rate:,.0f}/s)")
            if done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()

        try:
            with core_owner_connection() as conn:
                result = seed_core(
                    conn,
                    transactions=o["transactions"],
                    clients=o["clients"],
                    days=o["days"],
                    seed=o["seed"],
                    end_date=o["end_date"] or dt.date.today(),
                    schema=settings.CORE_DB_SCHEMA,
                    progress=progress,
                )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"seeded {result.clients} clients, {result.transactions:,} transactions, "
                f"{result.settlements:,} settlements, {result.refund_requests:,} refund requests in {elapsed:.1f}s"
            )
        )
