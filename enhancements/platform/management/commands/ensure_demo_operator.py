import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create (or reset the password of) the demo operator login and print it. Not for production."

    def handle(self, *args, **options):
        if settings.ENVIRONMENT == "production":
            raise CommandError("ensure_demo_operator refuses to run with production settings.")
        username = settings.DEMO_OPERATOR_USERNAME
        password = secrets.token_urlsafe(12)
        user, created = get_user_model().objects.get_or_create(username=username, defaults={"email": f"{username}@example.in"})
        user.is_staff = True
        user.is_superuser = True
        user.set_password(password)
        user.save()
        self.stdout.write(f"demo operator {'created' if created else 'reset'}: username={username} password={password}")
