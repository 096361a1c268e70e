"""Cached lists and their per-user freshness stamp: no database work on the precomputed path."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

URL = "/api/v1/products/recommendations"


def queries_of(client, user_id: str) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(URL, {"user_id": user_id, "n": 2})
    assert response.status_code == 200, response.content
    return [query["sql"] for query in queries.captured_queries]


def test_precomputed_recommendation_runs_no_query(trained, read_client):
    """Scoring cached p1's list; once the API key and route are remembered, serving it is
    cache-only (the newest-event query this replaced was one query per request)."""
    read_client.get(URL, {"user_id": "b1", "n": 2})  # remembers the key, route and catalog
    assert queries_of(read_client, "p1") == []


def test_ingested_events_make_the_cached_list_stale(trained, read_client):
    from catalog.models import Interaction
    from catalog.signals import events_ingested
    from engine.freshness import freshness_of

    read_client.get(URL, {"user_id": "b1", "n": 2})
    stamp = freshness_of(["p1"])["p1"]
    assert queries_of(read_client, "p1") == []
    events_ingested.send(sender=Interaction, user_ids=["p1"], item_ids=["phone-5"], count=1)
    assert freshness_of(["p1"])["p1"] != stamp
    recomputed = queries_of(read_client, "p1")
    assert any("interaction" in sql for sql in recomputed)  # the history is read again
    assert queries_of(read_client, "p2") == []  # other users' lists stay fresh
    assert queries_of(read_client, "p1") == []  # and p1's new list is cached


def test_erasing_a_user_drops_list_and_stamp(trained):
    from django.core.cache import cache

    from catalog.models import User
    from catalog.signals import user_erased
    from engine.freshness import freshness_key
    from engine.lists import load_list

    assert load_list("products", trained.pk, "p1") is not None
    assert cache.get(freshness_key("p1")) is not None
    user_erased.send(sender=User, user_id="p1")
    assert load_list("products", trained.pk, "p1") is None
    assert cache.get(freshness_key("p1")) is None


def test_a_missing_stamp_makes_every_stored_list_stale(trained, read_client):
    """An evicted stamp starts anew and matches no stored list, so nothing stale is served."""
    from django.core.cache import cache

    from engine.freshness import freshness_key

    read_client.get(URL, {"user_id": "b1", "n": 2})
    cache.delete(freshness_key("p1"))
    assert any("interaction" in sql for sql in queries_of(read_client, "p1"))
    assert queries_of(read_client, "p1") == []


def test_refreshing_lists_after_events_spares_the_next_request_the_work(trained, read_client):
    """What the scoring queue does after POST /events: the users' lists are recomputed under
    their new stamps, so the next request reads one (no query) that reflects the new events."""
    from django.utils import timezone

    from catalog.models import Interaction, Item, User
    from catalog.signals import events_ingested
    from engine.freshness import freshness_of
    from engine.lists import load_list
    from engine.versions import refresh_lists

    read_client.get(URL, {"user_id": "b1", "n": 2})
    Interaction.objects.create(
        user=User.objects.get(external_id="p1"),
        item=Item.objects.get(external_id="phone-5"),
        event_type="purchase",
        timestamp=timezone.now(),
    )
    events_ingested.send(sender=Interaction, user_ids=["p1"], item_ids=["phone-5"], count=1)
    assert refresh_lists(["p1"]) == 1  # one served version, one user
    entry = load_list("products", trained.pk, "p1")
    assert entry["stamp"] == freshness_of(["p1"])["p1"]
    assert "phone-5" not in [item_id for item_id, _, _ in entry["items"]]
    assert queries_of(read_client, "p1") == []
    assert refresh_lists(["nobody"]) == 0


def test_sqlite_gate_moves_on_every_commit_by_any_connection(tmp_path):
    """Where each process caches for itself (embedded SQLite), a user's newest event is re-read
    only when this gate moves: it must move for another process's commit and for our own
    writes, and stand still otherwise."""
    import sqlite3

    from engine.history import _NewestEvents

    path = tmp_path / "store.sqlite3"
    ours, theirs = sqlite3.connect(path, isolation_level=None), sqlite3.connect(path)
    ours.execute("CREATE TABLE events (id INTEGER PRIMARY KEY)")
    gate = _NewestEvents.gate(ours)
    assert _NewestEvents.gate(ours) == gate  # reading changes nothing
    theirs.execute("INSERT INTO events DEFAULT VALUES")
    assert _NewestEvents.gate(ours) == gate  # not committed yet
    theirs.commit()
    assert _NewestEvents.gate(ours) != gate
    gate = _NewestEvents.gate(ours)
    ours.execute("INSERT INTO events DEFAULT VALUES")
    assert _NewestEvents.gate(ours) != gate


def test_newest_event_query_runs_again_only_after_a_write(trained, read_client, settings):
    """With per-process caches (no shared stamp) a repeat answer reads the SQLite gate, not
    the user's newest event; a new event makes the next answer query again."""
    from django.utils import timezone

    from catalog.models import Interaction, Item, User

    settings.ENGINE_FRESHNESS_BY_SIGNAL = False
    read_client.get(URL, {"user_id": "p1", "n": 2})
    assert queries_of(read_client, "p1") == []
    Interaction.objects.create(
        user=User.objects.get(external_id="p1"),
        item=Item.objects.get(external_id="book-1"),
        event_type="view",
        timestamp=timezone.now(),
    )
    assert any("interaction" in sql for sql in queries_of(read_client, "p1"))
