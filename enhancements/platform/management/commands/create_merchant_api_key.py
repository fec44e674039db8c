from django.core.management.base import BaseCommand, CommandError

from core_legacy.selectors import merchant_get
from enhancements.platform.merchant_auth import merchant_api_key_create


class Command(BaseCommand):
    help = "Create an API key for a merchant (core client) and print it once."

    def add_arguments(self, parser):
        parser.add_argument("--client-code", required=True)
        parser.add_argument("--name", default="default")

    def handle(self, *args, client_code: str, name: str, **options):
        merchant = merchant_get(client_code=client_code)
        if merchant is None:
            raise CommandError(f"no core client with client_code {client_code!r}")
        record, key = merchant_api_key_create(client_id=merchant.client_id, client_code=client_code, name=name, created_by="cli")
        self.stdout.write(f"API key for {client_code} (id {record.pk}, shown once): {key}")
