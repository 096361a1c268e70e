"""The demo follow graph: clustered by town, no follow across a block, some opt-outs, seeded
once, and a first model trained and promoted on it."""

import io

import numpy as np
import pytest

from catalog.management.commands.seed_demo import write_store
from catalog.models import User
from engine.models import ModelVersion
from ml.datasets.demo import generate_demo_store
from scenarios.social.demo import seed
from scenarios.social.models import Block, Follow, OptOut
from tests.engine.planted import configure
from tests.scenarios.social.contract_case import FAST


@pytest.fixture
def demo_store(db, django_capture_on_commit_callbacks):
    """The demo catalog and this scenario's hook alone (seed_demo runs every scenario's)."""
    store = generate_demo_store(n_users=300, n_products=60, n_articles=0, days=20, seed=0)
    write_store(store, seed=0, progress=False)
    configure("social", **FAST)
    with django_capture_on_commit_callbacks(execute=True):
        seed(rng=np.random.default_rng(0), stdout=io.StringIO(), scale=1.0)


def test_the_demo_graph_is_clustered_filtered_trains_and_is_seeded_once(demo_store):
    follows = list(Follow.objects.values_list("follower__location", "followee__location"))
    assert len(follows) > 300 * 5
    same_town = np.mean([a == b for a, b in follows])
    towns = User.objects.values("location").distinct().count()
    assert same_town > 2 / towns  # far above what random follows would give
    for block in Block.objects.all():
        assert not Follow.objects.filter(
            follower__in=[block.blocker, block.blocked], followee__in=[block.blocker, block.blocked]
        ).exists()
    assert OptOut.objects.exists()
    version = ModelVersion.objects.get(scenario="social")
    assert version.status == "promoted", version.error
    assert version.metrics["recall@10"] > 0
    assert version.metrics["test_follows"] > 0
    rows = Follow.objects.count()
    out = io.StringIO()
    seed(rng=np.random.default_rng(1), stdout=out, scale=1.0)  # seeding again adds nothing
    assert Follow.objects.count() == rows and "exist already" in out.getvalue()
