"""``manage.py create_api_key --name N --scopes read,write``: prints the new key once."""

from django.core.management.base import BaseCommand, CommandError

from catalog.models import ApiKey


class Command(BaseCommand):
    help = "Create an API key and print it once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="Who or what uses the key.")
        parser.add_argument(
            "--scopes", default="read", help="Comma-separated: read, write (default: read)."
        )

    def handle(self, *args, name, scopes, **options):
        scope_list = [scope.strip() for scope in scopes.split(",") if scope.strip()]
        if not scope_list:
            raise CommandError("--scopes needs at least one of: read, write.")
        try:
            _, raw_key = ApiKey.create_key(name=name, scopes=scope_list)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(raw_key)
        self.stderr.write(f"Created key '{name}' with scopes {scope_list}; it is shown only once.")
