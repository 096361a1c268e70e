"""Training, promotion, rollback and idempotence of model versions."""

import pytest

from engine import versions
from engine.models import ModelVersion
from engine.tasks import train_version

Status = ModelVersion.Status


def make_version(primary_value, status=Status.SUCCEEDED, **settings):
    return ModelVersion.objects.create(
        scenario="products",
        algorithm="itemknn",
        status=status,
        primary_metric="ndcg@10",
        primary_value=primary_value,
        settings={"auto_promote": True, "promotion_tolerance": 0.01, **settings},
    )


@pytest.mark.parametrize(
    "candidate, current, tolerance, promoted",
    [
        (0.30, 0.30, 0.0, True),  # equal is enough
        (0.295, 0.30, 0.01, True),  # within tolerance: 0.295 >= 0.29
        (0.285, 0.30, 0.01, False),  # 0.285 < 0.29
        (0.50, None, 0.0, True),  # nothing served yet
    ],
)
def test_promotion_rule(db, candidate, current, tolerance, promoted):
    served = make_version(current, status=Status.PROMOTED) if current is not None else None
    version = make_version(candidate, promotion_tolerance=tolerance)
    decision, note = versions.promotion_decision(version, served)
    assert decision is promoted, note


def test_auto_promote_off_needs_a_person(db):
    version = make_version(0.9, auto_promote=False)
    assert versions.promotion_decision(version, None) == (
        False,
        "auto_promote is off; promote by hand in the admin",
    )


def test_train_promote_and_score(store, train_products):
    version = train_products(model="itemknn")
    assert version.status == Status.PROMOTED
    assert version.primary_metric == "ndcg@10" and 0 < version.primary_value <= 1
    assert version.data_snapshot["users"] == 12 and version.data_snapshot["items"] == 12
    assert version.data_snapshot["events"] == 48
    assert version.train_seconds > 0 and version.finished_at >= version.started_at
    assert versions.plot_path(version).is_file()
    assert version.scored_users == 12
    assert version.promotion_note == "first trained version"


def test_failed_or_worse_version_never_replaces_the_served_one(store, train_products):
    served = train_products(model="itemknn")
    worse = train_products(model="popularity")  # ignores tastes: lower NDCG on planted data
    assert worse.status == Status.SUCCEEDED, worse.promotion_note
    assert worse.primary_value < served.primary_value - 0.01
    assert "<" in worse.promotion_note
    from catalog.models import Interaction

    Interaction.objects.all().delete()  # nothing to train on: the run fails
    failed = train_products(model="itemknn")
    assert failed.status == Status.FAILED
    assert "no interactions" in failed.error
    assert ModelVersion.promoted("products").pk == served.pk


def test_rollback_serves_the_previous_version(store, train_products):
    first = train_products(model="itemknn")
    second = train_products(model="itemknn", promotion_tolerance=1.0)
    assert second.status == Status.PROMOTED
    first.refresh_from_db()
    assert first.status == Status.RETIRED
    assert versions.rollback("products").pk == first.pk
    second.refresh_from_db()
    assert second.status == Status.RETIRED
    assert ModelVersion.promoted("products").pk == first.pk


def test_rollback_without_history_is_a_clear_error(db):
    with pytest.raises(ValueError, match="no promoted version to roll back"):
        versions.rollback("products")


def test_manual_promotion_of_a_failed_version_is_refused(db):
    failed = make_version(None, status=Status.FAILED)
    with pytest.raises(ValueError, match="failed; it has no model"):
        versions.promote(failed)


def test_repeated_delivery_of_a_training_task_is_a_no_op(store, train_products):
    version = train_products(model="itemknn")
    finished_at = version.finished_at
    assert train_version.apply(args=[version.pk]).get() == "skipped"
    version.refresh_from_db()
    assert version.finished_at == finished_at and version.status == Status.PROMOTED


def test_runs_whose_worker_died_are_failed_after_the_timeout(db, settings):
    from datetime import timedelta

    from django.utils import timezone

    from engine.tasks import reap_stale_versions

    settings.ENGINE_TRAINING_TIMEOUT_SECONDS = 3600
    now = timezone.now()
    stale = make_version(None, status=Status.RUNNING)
    fresh = make_version(None, status=Status.RUNNING)
    served = make_version(0.3, status=Status.PROMOTED)
    ModelVersion.objects.filter(pk=stale.pk).update(started_at=now - timedelta(hours=2))
    ModelVersion.objects.filter(pk=fresh.pk).update(started_at=now - timedelta(minutes=5))
    ModelVersion.objects.filter(pk=served.pk).update(started_at=now - timedelta(days=2))

    assert reap_stale_versions.apply().get() == 1
    statuses = dict(ModelVersion.objects.values_list("pk", "status"))
    assert statuses == {
        stale.pk: Status.FAILED,
        fresh.pk: Status.RUNNING,
        served.pk: Status.PROMOTED,
    }
    stale.refresh_from_db()
    assert "worker" in stale.error and stale.finished_at is not None
    assert reap_stale_versions.apply().get() == 0  # idempotent


def test_runs_go_to_the_queues_their_scenario_declares(
    store, monkeypatch, django_capture_on_commit_callbacks
):
    """A scenario names its own queue with one class attribute: the engine sends its runs there
    and a worker started without -Q consumes it (no edit to engine.queues or the Makefile)."""
    from config.celery import app
    from engine import registry
    from engine.queues import declared_queues

    assert {"engine.train_version", "engine.score_version", "engine.train_scenario"} <= set(
        app.tasks
    )
    assert train_version.max_retries == 3
    sent = []
    monkeypatch.setattr(versions, "send", lambda name, *args, queue: sent.append((name, queue)))
    products = type(registry.get("products"))
    monkeypatch.setattr(products, "training_queue", "products-gpu")
    monkeypatch.setattr(products, "scoring_queue", "products-lists")
    with django_capture_on_commit_callbacks(execute=True):
        version = versions.request_training("products")
    assert sent == [("engine.train_version", "products-gpu")]
    assert {"training", "scoring", "default", "products-gpu", "products-lists"} <= set(
        declared_queues(registry.all_scenarios())
    )
    version.status = Status.SUCCEEDED
    version.save()
    with django_capture_on_commit_callbacks(execute=True):
        versions.promote(version)
    assert sent[-1] == ("engine.score_version", "products-lists")


@pytest.mark.django_db(transaction=True)
def test_train_command_waits_and_reports(capsys):
    from django.core.management import call_command

    from tests.engine.planted import plant_store

    plant_store()  # committed, so the command's on-commit enqueue runs as in production
    call_command("train", "products", "--wait", "--timeout", "60")
    out = capsys.readouterr().out
    assert "queued version" in out and "promoted, ndcg@10=" in out


def test_train_command_rejects_unknown_scenario(db):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="unknown scenario 'nope'"):
        call_command("train", "nope")


def test_runs_whose_process_went_silent_are_failed_and_their_folder_removed(db, settings):
    from datetime import timedelta

    from django.utils import timezone

    from engine.tasks import reap_stale_versions

    now = timezone.now()
    silent = make_version(None, status=Status.RUNNING)
    alive = make_version(None, status=Status.RUNNING)
    ModelVersion.objects.filter(pk=silent.pk).update(
        started_at=now - timedelta(minutes=20),
        heartbeat_at=now - timedelta(seconds=versions.HEARTBEAT_LOST_SECONDS + 5),
        worker="celery@gone",
    )
    ModelVersion.objects.filter(pk=alive.pk).update(
        started_at=now - timedelta(minutes=20), heartbeat_at=now - timedelta(seconds=10)
    )
    folder = versions.artifact_dir(silent)
    folder.mkdir(parents=True)
    (folder / "half-written.npz").write_bytes(b"\x00")

    assert reap_stale_versions.apply().get() == 1
    silent.refresh_from_db()
    assert silent.status == Status.FAILED and "celery@gone" in silent.error
    assert ModelVersion.objects.get(pk=alive.pk).status == Status.RUNNING
    assert not folder.exists()


@pytest.fixture
def committed_store(transactional_db):
    """The planted store, committed, so the heartbeat thread's own connection sees it."""
    import importlib

    from django.apps import apps

    importlib.import_module("catalog.migrations.0002_seed_event_types").seed_event_types(
        apps, None
    )  # the flush of a transactional test removed the seeded rows
    from tests.engine.planted import plant_store

    return plant_store()


def test_a_training_stamps_its_heartbeat_while_it_runs(
    committed_store, train_products, monkeypatch
):
    import time

    from engine import registry

    monkeypatch.setattr(versions, "HEARTBEAT_SECONDS", 0.05)
    scenario = registry.get("products")
    real_train = scenario.train
    beats = []

    def slow_train(version, folder, progress):
        time.sleep(0.5)  # a long fit that reports no progress
        beats.append(ModelVersion.objects.get(pk=version.pk).heartbeat_at)
        return real_train(version, folder, progress)

    monkeypatch.setattr(scenario, "train", slow_train)
    version = train_products(model="itemknn")
    assert version.status == Status.PROMOTED, version.error
    assert beats[0] > version.started_at


def test_scoring_is_sharded_across_the_scoring_queue(store, train_products, monkeypatch):
    """Precomputing lists is split into shards of ``scoring_shard_users`` users, one task each on
    the scenario's scoring queue, so N workers share it; every active user is in one shard, and
    the shards together write every list."""
    from django.core.cache import cache

    from engine import registry
    from engine.lists import load_list

    version = train_products(model="itemknn", scoring_shard_users=5)
    sent = []
    monkeypatch.setattr(
        versions, "send", lambda name, *args, queue: sent.append((name, args, queue))
    )
    assert versions.run_scoring(version.pk) == 3
    queue = registry.get("products").scoring_queue
    assert [(name, len(args[1]), args[2], q) for name, args, q in sent] == [
        ("engine.score_shard", 5, 12, queue),
        ("engine.score_shard", 5, 12, queue),
        ("engine.score_shard", 2, 12, queue),
    ]
    shards = [args[1] for _, args, _ in sent]
    users = [user for shard in shards for user in shard]
    assert sorted(users) == sorted(set(users)) and len(users) == 12
    cache.clear()  # the promotion's own scoring wrote them already
    assert all(load_list("products", version.pk, user) is None for user in users)
    version.refresh_from_db()
    assert version.scored_users == 0 and version.progress == 0.0

    assert [versions.score_shard(version.pk, shard, 12) for shard in shards] == [5, 5, 2]
    version.refresh_from_db()
    assert version.scored_users == 12 and version.progress == 1.0
    assert version.progress_message == "scored 12 of 12 users"
    assert all(load_list("products", version.pk, user)["items"] for user in users)


def test_a_shard_of_a_version_no_longer_served_writes_nothing(store, train_products):
    version = train_products(model="itemknn")
    users = versions.registry.get("products").users_to_score(version)
    assert len(users) == 12
    ModelVersion.objects.filter(pk=version.pk).update(status=Status.RETIRED)
    assert versions.score_shard(version.pk, users, len(users)) == 0
