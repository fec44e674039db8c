from django.core.management.base import BaseCommand, CommandError

from core_legacy.schema_check import check_core_schema


class Command(BaseCommand):
    help = "Compare every unmanaged core model with the live core database; exit non-zero on incompatible drift."

    def handle(self, *args, **options):
        problems = check_core_schema("core")
        errors = [p for p in problems if p.severity == "error"]
        for drift in problems:
            (self.stderr if drift.severity == "error" else self.stdout).write(str(drift))
        if errors:
            raise CommandError(f"core schema drift: {len(errors)} incompatible problem(s)")
        self.stdout.write(self.style.SUCCESS(f"core schema compatible ({len(problems)} warning(s))"))
