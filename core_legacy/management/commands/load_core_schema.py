from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core_legacy.fixture import CoreSchemaExists, load_core_schema
from core_legacy.owner import core_owner_connection


class Command(BaseCommand):
    help = "Load the demo/test legacy core schema (DDL fixture) into an empty core database."

    def add_arguments(self, parser):
        parser.add_argument("--if-absent", action="store_true", help="exit 0 without loading when the tables exist")

    def handle(self, *args, if_absent: bool = False, **options):
        if settings.ENVIRONMENT == "production":
            raise CommandError("load_core_schema refuses to run with production settings: the real core owns its schema.")
        try:
            with core_owner_connection() as conn:
                load_core_schema(conn, schema=settings.CORE_DB_SCHEMA)
        except CoreSchemaExists as exc:
            if if_absent:
                self.stdout.write("core schema already present; nothing loaded")
                return
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"legacy core schema loaded into schema {settings.CORE_DB_SCHEMA!r}"))
