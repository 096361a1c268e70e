"""The products loop on real services: import through the worker, train on the worker, promote,
serve from the lists the scoring queue wrote to Redis, post an event, see the answer change."""

import pickle
import zlib

import httpx
import pytest
from django.conf import settings
from django.core.cache import cache
from django_redis import get_redis_connection

from catalog.models import ApiKey, Interaction
from catalog.tasks import import_dataset
from engine.freshness import bump_freshness, freshness_of
from engine.lists import list_key, load_list
from engine.models import ModelVersion, ScenarioConfig
from engine.versions import _refresh_store, queue_refresh, request_training
from tests.engine.planted import BOOKS, PHONES, reset_engine_state

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def planted_csv(path):
    """Users p1..p6 buy phones, b1..b6 books, four items each in a rotating window."""
    rows = ["user_id,item_id,event_type"]
    for group, items in (("p", PHONES), ("b", BOOKS)):
        for u in range(6):
            for offset in range(4):
                kind = "purchase" if offset == 0 else "view"
                rows.append(f"{group}{u + 1},{items[(u + offset) % 6]},{kind}")
    path.write_text("\n".join(rows) + "\n")
    return path


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["item_id"] for item in response.json()["items"]]


def train_on_the_worker(wait_until, tmp_path) -> ModelVersion:
    """Import the planted store and train item-kNN through the queue; the promoted version,
    once the scoring queue's shards have written every user's list."""
    assert not settings.CELERY_TASK_ALWAYS_EAGER, "tasks must travel through Redis here"
    reset_engine_state()
    import_dataset.delay("csv", str(planted_csv(tmp_path / "events.csv")))
    wait_until(lambda: Interaction.objects.count() == 48, message="the worker imported nothing")

    config = ScenarioConfig.for_slug("products")
    config.settings = {"model": "itemknn", "scoring_shard_users": 5}  # 3 shards on the worker
    config.save()
    version = request_training("products", triggered_by="integration")  # enqueued on commit
    wait_until(
        lambda: ModelVersion.objects.get(pk=version.pk).is_final,
        timeout=120,
        message="training did not finish on the worker",
    )
    version.refresh_from_db()
    assert version.status == ModelVersion.Status.PROMOTED, version.error
    wait_until(
        lambda: ModelVersion.objects.get(pk=version.pk).scored_users == 12,
        timeout=60,
        message="the scoring queue wrote no lists",
    )
    return version


def test_import_train_promote_serve_and_react_to_an_event(
    celery_worker, wait_until, tmp_path, read_client, write_client
):
    version = train_on_the_worker(wait_until, tmp_path)
    entry = load_list("products", version.pk, "p1")
    assert entry is not None  # written by the worker to Redis
    stored = get_redis_connection("default").get(
        cache.make_key(list_key("products", version.pk, "p1"))
    )
    assert pickle.loads(zlib.decompress(stored)) == entry  # kept compressed

    url = "/api/v1/products/recommendations"
    response = read_client.get(url, {"user_id": "p1", "n": 2})
    assert response.json()["model_version"] == version.pk
    assert set(ids(response)) == {"phone-5", "phone-6"}

    events = [
        {"user_id": "p1", "item_id": item, "type": "purchase"}
        for item in ("phone-5", "book-1", "book-2")
    ]
    assert write_client.post("/api/v1/events", {"events": events}, format="json").status_code in (
        200,
        201,
    )
    after = ids(read_client.get(url, {"user_id": "p1", "n": 3}))
    assert "phone-5" not in after
    assert set(after) & {"book-3", "book-4", "book-5", "book-6"}

    # The scoring queue refreshes the lists of users with new events on its own: b1's list
    # gets b1's new stamp without any request for b1.
    event = {"user_id": "b1", "item_id": "phone-1", "type": "purchase"}
    assert write_client.post("/api/v1/events", event, format="json").status_code in (200, 201)
    stamp = freshness_of(["b1"])["b1"]
    wait_until(
        lambda: (load_list("products", version.pk, "b1") or {}).get("stamp") == stamp,
        timeout=60,
        message="the scoring queue did not refresh b1's list after its event",
    )
    refreshed = load_list("products", version.pk, "b1")
    assert "phone-1" not in [item_id for item_id, _, _ in refreshed["items"]]

    # Many event batches for the same users queue one drain at a time, and the pending set of
    # users (not a queue of tasks) is what grows; it empties once the worker has refreshed them.
    client, pending, scheduled = _refresh_store()
    bump_freshness(["p2", "b2"])  # their stored lists are stale now
    for _ in range(20):
        queue_refresh(["p2", "b2"])
    assert client.scard(pending) <= 2
    wait_until(
        lambda: client.scard(pending) == 0 and not client.exists(scheduled),
        timeout=60,
        message="the pending refreshes were not drained",
    )
    for user in ("p2", "b2"):
        assert load_list("products", version.pk, user)["stamp"] == freshness_of([user])[user]


def test_every_answer_after_a_purchase_leaves_the_item_out_whichever_worker_answers(
    wait_until, tmp_path, api_server
):
    """Two gunicorn workers keep the stamps they read, invalidated by Redis: a purchase posted
    to one worker must be reflected by the very next answer, from either of them."""
    version = train_on_the_worker(wait_until, tmp_path)
    _, read_key = ApiKey.create_key("storefront-read", ["read"])
    _, write_key = ApiKey.create_key("storefront-write", ["read", "write"])
    reader = httpx.Client(base_url=api_server, headers={"Authorization": f"Api-Key {read_key}"})
    writer = httpx.Client(base_url=api_server, headers={"Authorization": f"Api-Key {write_key}"})

    def answer(user: str) -> list[str]:
        response = reader.get("/api/v1/products/recommendations", params={"user_id": user, "n": 3})
        assert response.status_code == 200, response.text
        assert response.json()["model_version"] == version.pk
        return [item["item_id"] for item in response.json()["items"]]

    wait_until(  # each worker rereads the promoted version within VERSION_CHECK_SECONDS
        lambda: all(
            reader.get("/api/v1/products/recommendations", params={"user_id": "p1"}).json()[
                "model_version"
            ]
            == version.pk
            for _ in range(4)
        ),
        message="the API server never served the promoted version",
    )
    for _ in range(4):
        for user in [f"p{u}" for u in range(1, 7)] + [f"b{u}" for u in range(1, 7)]:
            for _ in range(3):  # both workers answer from (and keep) the current stamp
                bought = answer(user)[0]
            event = {"user_id": user, "item_id": bought, "type": "purchase"}
            assert writer.post("/api/v1/events", json=event).status_code in (200, 201)
            after = answer(user)
            assert bought not in after, f"{user} bought {bought} and was offered it again"
    reader.close()
    writer.close()
