"""The platform against real services: PostgreSQL, Redis (cache and broker), a Celery worker."""

import pytest
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
def test_freshness_stamp_read_directly_matches_the_cache_and_survives_a_dropped_connection():
    """The per-request stamp read bypasses django-redis: it must decode what django-redis
    wrote, see a bump at once, and answer after Redis drops its connection."""
    from django_redis import get_redis_connection

    from engine import serving

    serving.bump_freshness(["s1"])
    stamp = serving.freshness_of(["s1"])["s1"]  # through the cache API
    assert serving.freshness_stamp("s1") == stamp
    assert serving._stamps._local.connection.is_connected  # read over the kept connection
    serving.bump_freshness(["s1"])
    bumped = serving.freshness_stamp("s1")
    assert bumped != stamp and bumped == serving.freshness_of(["s1"])["s1"]

    kept = serving._stamps._local.connection
    kept.send_command("CLIENT", "ID")
    get_redis_connection("default").client_kill_filter(_id=kept.read_response())
    assert serving.freshness_stamp("s1") == bumped  # the dropped connection's read falls back
    assert serving.freshness_stamp("s1") == bumped  # and the next one reconnects
    assert serving.freshness_stamp("nobody") == serving.freshness_of(["nobody"])["nobody"]
