"""``manage.py import_follows edges.txt``: bulk-load a follow graph from an edge list.

One ``follower followee`` pair of the store's user ids per line (whitespace or comma
separated; ``#`` comments and blank lines skipped), the SNAP format. ``--undirected`` reads each
line as a friendship and adds both follows; ``--create-users`` adds users the catalog does not
know (otherwise the import refuses the file, naming them, and writes nothing). Follows that
exist already are kept as they are, so a rerun adds nothing twice. Self-follows are skipped.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm import tqdm

from catalog.models import User
from scenarios.social.models import Block, Follow

CHUNK_SIZE = 5000


def read_pairs(path: Path) -> list[tuple[str, str]]:
    pairs = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.split("#", 1)[0].replace(",", " ").strip()
            if not line:
                continue
            fields = line.split()
            if len(fields) != 2:
                raise CommandError(f"{path}: line {number} is not 'follower followee'")
            pairs.append((fields[0], fields[1]))
    return pairs


class Command(BaseCommand):
    help = "Bulk-import follows from an edge list of user ids (one 'follower followee' a line)."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="The edge list.")
        parser.add_argument(
            "--undirected", action="store_true", help="Each line links both ways (friendships)."
        )
        parser.add_argument(
            "--create-users", action="store_true", help="Add users the catalog does not know."
        )
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")

    def handle(self, *args, path, undirected, create_users, no_progress, **options):
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        pairs = [(a, b) for a, b in read_pairs(path) if a != b]
        if undirected:
            pairs += [(b, a) for a, b in pairs]
        pairs = sorted(set(pairs))
        names = sorted({user for pair in pairs for user in pair})
        with transaction.atomic():
            pks = self._user_pks(names, create_users)
            blocked = {
                pair
                for blocker, blocked in Block.objects.values_list("blocker_id", "blocked_id")
                for pair in ((blocker, blocked), (blocked, blocker))
            }
            rows = [
                Follow(follower_id=pks[a], followee_id=pks[b])
                for a, b in pairs
                if (pks[a], pks[b]) not in blocked
            ]
            before = Follow.objects.count()
            bar = tqdm(total=len(rows), unit="follow", desc="import_follows", disable=no_progress)
            with bar:
                for start in range(0, len(rows), CHUNK_SIZE):
                    chunk = rows[start : start + CHUNK_SIZE]
                    Follow.objects.bulk_create(chunk, ignore_conflicts=True)
                    bar.update(len(chunk))
            added = Follow.objects.count() - before
        self.stdout.write(
            f"{added} follows added ({len(rows) - added} existed already, "
            f"{len(pairs) - len(rows)} skipped across a block) among {len(names)} users."
        )

    def _user_pks(self, names: list[str], create_users: bool) -> dict[str, int]:
        pks: dict[str, int] = {}
        for start in range(0, len(names), CHUNK_SIZE):
            chunk = names[start : start + CHUNK_SIZE]
            pks.update(User.objects.filter(external_id__in=chunk).values_list("external_id", "pk"))
        missing = [name for name in names if name not in pks]
        if missing and not create_users:
            shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
            raise CommandError(
                f"{len(missing)} user ids are not in the catalog ({shown}); "
                "import them first or pass --create-users"
            )
        for start in range(0, len(missing), CHUNK_SIZE):
            chunk = missing[start : start + CHUNK_SIZE]
            User.objects.bulk_create([User(external_id=name) for name in chunk])
            pks.update(User.objects.filter(external_id__in=chunk).values_list("external_id", "pk"))
        return pks
