"""The platform against real services: PostgreSQL, Redis (cache and broker), a Celery worker."""

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test.utils import override_settings

from catalog.models import Interaction, Item
from catalog.tasks import import_dataset

DEAD_BROKER = "redis://127.0.0.1:1/0"  # port 1: nothing listens there


@pytest.mark.django_db
def test_health_is_ok_on_postgresql_redis_cache_and_redis_broker(api_client):
    response = api_client.get("/api/v1/health")
    assert response.status_code == 200, response.json()
    components = response.json()["components"]
    assert components["database"] == {"status": "up", "detail": "postgresql"}
    assert components["cache"] == {"status": "up", "detail": "RedisCache"}
    assert components["broker"] == {"status": "up", "detail": "redis"}


@pytest.mark.django_db
def test_health_is_503_naming_the_broker_when_it_is_down(api_client):
    with override_settings(CELERY_BROKER_URL=DEAD_BROKER):
        response = api_client.get("/api/v1/health")
    assert response.status_code == 503
    body = response.json()
    assert body["detail"] == "down: broker"
    assert body["components"]["broker"]["status"] == "down"
    assert body["components"]["database"]["status"] == "up"


def test_worker_registers_every_task_this_process_knows(celery_worker):
    """A task the web process can send but the worker never imported would be lost silently."""
    from config.celery import app

    app.loader.import_default_modules()
    ours = {name for name in app.tasks if not name.startswith("celery.")}
    registered = app.control.inspect([celery_worker.name], timeout=5).registered()
    assert {"catalog.ping", "catalog.import_dataset"} <= ours
    assert ours <= set(registered[celery_worker.name])


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_task_sent_through_the_broker_runs_on_the_worker(celery_worker, wait_until, tmp_path):
    assert not settings.CELERY_TASK_ALWAYS_EAGER, "tasks must travel through Redis here"
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,event_type\nu1,i1,view\nu2,i1,purchase\n")
    import_dataset.delay("csv", str(path))
    wait_until(lambda: Interaction.objects.count() == 2, message="the worker wrote no interactions")
    assert sorted(Interaction.objects.values_list("event_type", flat=True)) == ["purchase", "view"]
    assert "catalog.import_dataset" in celery_worker.log_tail(200)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_events_posted_land_in_postgresql(write_client):
    Item.objects.create(external_id="sku-1")
    events = [
        {"event_id": f"pg-{n}", "user_id": f"u{n % 2}", "item_id": "sku-1", "type": "view"}
        for n in range(3)
    ]
    response = write_client.post("/api/v1/events", {"events": events}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json() == {"accepted": 3, "duplicates": 0}
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM catalog_interaction WHERE event_id LIKE %s", ["pg-%"])
        assert cursor.fetchone()[0] == 3
    assert connection.vendor == "postgresql"
    again = write_client.post("/api/v1/events", {"events": events}, format="json")
    assert again.json() == {"accepted": 0, "duplicates": 3}


@pytest.mark.django_db
def test_freshness_stamps_are_kept_in_process_until_redis_invalidates_them(monkeypatch):
    """The per-request stamp read is served from this process while Redis has not sent an
    invalidation: a repeat read sends nothing, a write by any connection is seen by the next
    read, and a dropped connection or a flushed database forgets what was kept."""
    from django.core.cache import cache
    from django_redis import get_redis_connection

    from engine import freshness, tracking

    other = get_redis_connection("default")  # another connection, as another process would use
    freshness.bump_freshness(["s1"])
    stamp = freshness.freshness_of(["s1"])["s1"]  # through the cache API
    assert freshness.freshness_stamp("s1") == stamp
    tracked = tracking.stamps._local.connection
    sent = []
    monkeypatch.setattr(tracked, "send_command", lambda *args, **kw: sent.append(args))
    assert freshness.freshness_stamp("s1") == stamp
    assert sent == []  # the repeat read was served in process
    monkeypatch.undo()

    pings = []
    monkeypatch.setattr(redis.Redis, "ping", lambda self, **kw: pings.append(self) or True)
    freshness.bump_freshness(["s1"])  # the events receiver's write, then the barrier
    assert len(pings) == 1
    monkeypatch.undo()
    bumped = freshness.freshness_stamp("s1")
    assert bumped != stamp and bumped == freshness.freshness_of(["s1"])["s1"]
    other.set(cache.make_key(freshness.freshness_key("s1")), 12345)
    other.ping()  # the barrier every stamp writer waits for
    assert freshness.freshness_stamp("s1") == 12345

    for lost in ("data", "subscriber"):  # losing either one of the pair forgets all
        tracked = tracking.stamps._local.connection
        tracked.send_command("CLIENT", "TRACKINGINFO")
        info = dict(zip(*[iter(tracked.read_response())] * 2, strict=True))
        tracked.send_command("CLIENT", "ID")
        data_id = tracked.read_response()
        other.client_kill_filter(_id=data_id if lost == "data" else info[b"redirect"])
        other.set(cache.make_key(freshness.freshness_key("s1")), 777)
        other.ping()
        assert freshness.freshness_stamp("s1") == 777  # read through the cache API this time
        assert freshness.freshness_stamp("s1") == 777  # and kept again on a new pair
        other.set(cache.make_key(freshness.freshness_key("s1")), 12345)
        other.ping()
        assert freshness.freshness_stamp("s1") == 12345  # tracked again after reconnect

    other.flushdb()
    other.ping()
    fresh = freshness.freshness_stamp("s1")  # the flush took the kept stamp too: a new one
    assert fresh not in (12345, None) and fresh == freshness.freshness_of(["s1"])["s1"]


@pytest.mark.django_db
def test_a_large_invalidation_backlog_is_read_to_the_end(monkeypatch):
    """Redis writes at most 64 KB to a client per event-loop pass: a reader that finds a big
    backlog round-trips a PING (what Redis held back comes before the pong), so none of many
    bumps is missed."""
    from engine import freshness, tracking

    users = [f"bulk{n}" for n in range(5000)]
    freshness.freshness_of(users)
    before = {user: freshness.freshness_stamp(user) for user in users}  # all tracked
    freshness.bump_freshness(users)  # 5,000 invalidations, about 350 KB
    subscriber = tracking.stamps._local.subscriber
    sent = []
    send = subscriber.send_command
    monkeypatch.setattr(
        subscriber, "send_command", lambda *args, **kw: sent.append(args) or send(*args, **kw)
    )
    assert freshness.freshness_stamp(users[0]) != before[users[0]]
    assert sent[0] == ("PING",)
    assert all(freshness.freshness_stamp(user) != before[user] for user in users)


@pytest.mark.django_db
def test_a_server_refusing_tracking_gets_a_plain_read_per_request(monkeypatch):
    """Where Redis (or a proxy in front of it) refuses CLIENT TRACKING, every read goes through
    the cache API, without trying a new connection per request."""
    from engine import freshness, tracking

    reader = tracking.TrackedStamps()
    tries = []

    def refuse(self, connection, redirect):
        tries.append(connection)
        raise redis.exceptions.ResponseError("unknown command 'CLIENT|TRACKING'")

    monkeypatch.setattr(tracking.TrackedStamps, "_track", refuse)
    key = freshness.freshness_key("s2")
    freshness.bump_freshness(["s2"])
    stamp = freshness.freshness_of(["s2"])["s2"]
    assert reader.get(key) == stamp
    freshness.bump_freshness(["s2"])
    assert reader.get(key) == freshness.freshness_of(["s2"])["s2"] != stamp
    assert len(tries) == 1 and reader.unsupported


def test_tracking_uses_no_private_redis_attribute():
    """The tracked read rests on redis-py's public API only, so a redis-py upgrade that moves
    its internals cannot silently break read-your-writes."""
    import ast
    import inspect

    from engine import tracking

    tree = ast.parse(inspect.getsource(tracking))
    private = sorted(
        {
            node.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and not (isinstance(node.value, ast.Name) and node.value.id == "self")
            and node.attr != "_local"
        }
    )
    assert private == []
