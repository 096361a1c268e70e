"""``manage.py seed_demo``: deterministic rows, --if-empty, dates ending today, app hooks."""

import importlib
import sys
import textwrap
from datetime import timedelta
from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from catalog.management.commands import seed_demo
from catalog.models import Interaction, Item, User
from ml.datasets.demo import generate_demo_store

pytestmark = pytest.mark.django_db
SMALL = {"users": 40, "items": 30, "articles": 5, "days": 7, "seed": 3}


def run_seed(**options) -> str:
    stdout = StringIO()
    call_command("seed_demo", no_progress=True, stdout=stdout, **{**SMALL, **options})
    return stdout.getvalue()


def store_events():
    """The catalog part's events (scenario demos add their own, under their own id prefix)."""
    return Interaction.objects.filter(event_id__startswith="demo-")


def test_small_store_matches_the_generator_row_for_row():
    out = run_seed()
    store = generate_demo_store(n_users=40, n_products=30, n_articles=5, days=7, seed=3)
    n_events = len(store.events)
    assert f"40 users, 35 items, {n_events} events (0 already present)" in out
    assert User.objects.count() == 40 and Item.objects.count() == 35
    assert store_events().count() == n_events > 0
    kinds = {kind: Item.objects.filter(kind=kind).count() for kind in ("product", "article")}
    assert kinds == {"product": 30, "article": 5}
    stored_types = sorted(store_events().values_list("event_type", flat=True))
    assert stored_types == sorted(store.events.event_types.tolist())
    first = Item.objects.get(external_id="p00001")
    assert first.title == store.items.titles[0]
    assert str(first.price) == f"{store.items.prices[0]:.2f}"
    assert Item.objects.get(external_id="a0001").price is None
    user = User.objects.get(external_id="u00001")
    assert (user.age_band, user.gender, user.segments) == (
        store.users.age_bands[0],
        store.users.genders[0],
        store.users.segments[0],
    )


def test_rerun_adds_nothing_and_another_seed_differs():
    run_seed()
    events, everything = store_events().count(), Interaction.objects.count()
    out = run_seed()
    assert f"0 events ({events} already present)" in out
    assert Interaction.objects.count() == everything  # scenario demos add nothing twice either
    # Other sizes are another store: its events are new, not duplicates of the first one's.
    assert "(0 already present)" in run_seed(users=41)
    titles = set(Item.objects.values_list("title", flat=True))
    Interaction.objects.all().delete()
    run_seed(seed=4)
    assert set(Item.objects.values_list("title", flat=True)) != titles


def test_history_window_ends_today():
    run_seed()
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    stamps = store_events().values_list("timestamp", flat=True)
    assert min(stamps) >= today - timedelta(days=6)
    assert max(stamps) < today + timedelta(days=1)
    assert Interaction.objects.filter(event_id__startswith="demo-3-").count() == len(stamps)


def test_if_empty_loads_an_empty_database_and_skips_a_filled_one():
    run_seed(if_empty=True)
    assert User.objects.count() == 40
    User.objects.create(external_id="someone-else")
    events = Interaction.objects.count()
    out = run_seed(if_empty=True, seed=9)
    assert "nothing to do" in out
    assert Interaction.objects.count() == events


def test_if_empty_counts_items_alone_as_data():
    Item.objects.create(external_id="sku-1")
    assert "nothing to do" in run_seed(if_empty=True)
    assert not User.objects.exists()


@pytest.mark.parametrize("option", [{"users": 0}, {"days": 0}, {"articles": -1}])
def test_bad_sizes_are_refused(option):
    with pytest.raises(CommandError, match="must be"):
        run_seed(**option)


@pytest.fixture
def hook_app(tmp_path, monkeypatch):
    """A fake installed app whose demo.seed records what seed_demo passed it."""
    package = tmp_path / "hookapp"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "demo.py").write_text(
        textwrap.dedent(
            """
            CALLS = []

            def seed(*, rng, stdout, scale):
                CALLS.append({"draw": float(rng.random()), "scale": scale})
                stdout.write("hookapp: seeded")
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    real_configs = list(seed_demo.apps.get_app_configs())
    fake = SimpleNamespace(label="hookapp", name="hookapp")
    monkeypatch.setattr(seed_demo.apps, "get_app_configs", lambda: [*real_configs, fake])
    yield importlib.import_module("hookapp.demo")
    sys.modules.pop("hookapp.demo", None)
    sys.modules.pop("hookapp", None)


def test_scenario_app_hooks_are_called_with_a_seeded_rng_and_scale(hook_app):
    out = run_seed(users=80)
    assert "hookapp: seeded" in out
    run_seed(users=80)
    run_seed(users=80, seed=5)
    same, again, other = hook_app.CALLS
    assert same == again and same["scale"] == pytest.approx(0.1)
    assert other["draw"] != same["draw"]
