"""Link prediction: heuristics by hand, planted communities, recommendation, round trip."""

import math
import subprocess
import sys

import numpy as np
import pytest

from ml.base import Model
from ml.datasets.common import REPO_ROOT, dataset_path
from ml.metrics.classification import roc_auc
from ml.models.link_prediction import AdamicAdar, CommonNeighbours, NodeEmbedding

# 0-1, 0-2, 1-2, 1-3, 2-3, 3-4: degrees 2, 3, 3, 3, 1
SMALL = np.array([[0, 1], [0, 2], [1, 2], [1, 3], [2, 3], [3, 4]])
FAST_EMBEDDING = {"dim": 8, "epochs": 30, "batch_size": 128, "learning_rate": 0.03, "l2": 1e-2}


def planted_communities(seed, sizes=(30, 30, 30, 30), p_in=0.3, p_out=0.01):
    """A stochastic block model: dense inside each community, sparse across."""
    rng = np.random.default_rng(seed)
    community = np.repeat(np.arange(len(sizes)), sizes)
    n = community.size
    u, v = np.triu_indices(n, k=1)
    p = np.where(community[u] == community[v], p_in, p_out)
    keep = rng.random(u.size) < p
    return np.stack([u[keep], v[keep]], axis=1), community


@pytest.fixture(scope="module")
def communities():
    edges, community = planted_communities(seed=0)
    rng = np.random.default_rng(1)
    held_out = rng.random(len(edges)) < 0.15
    model = NodeEmbedding(**FAST_EMBEDDING).fit(edges[~held_out], n_nodes=community.size)
    return model, edges, held_out, community


def test_common_neighbours_and_adamic_adar_by_hand():
    pairs = np.array([[0, 3], [0, 4], [1, 4]])
    cn = CommonNeighbours().fit(SMALL).score(pairs)
    aa = AdamicAdar().fit(SMALL).score(pairs)
    np.testing.assert_allclose(cn, [2, 0, 1])
    np.testing.assert_allclose(aa, [2 / math.log(3), 0, 1 / math.log(3)], rtol=1e-6)


@pytest.mark.parametrize("cls", [CommonNeighbours, AdamicAdar])
def test_row_scores_agree_with_pair_scores(cls):
    model = cls().fit(SMALL)
    u, v = np.meshgrid(np.arange(5), np.arange(5), indexing="ij")
    pair_scores = model.score(np.stack([u.ravel(), v.ravel()], axis=1)).reshape(5, 5)
    np.testing.assert_allclose(model._score_rows(np.arange(5)), pair_scores, rtol=1e-6)


def test_recommend_excludes_self_neighbours_and_requested_nodes():
    model = CommonNeighbours().fit(SMALL)
    ids, scores = model.recommend([0, 4], n=3)
    assert ids.tolist() == [[3, 4, -1], [1, 2, 0]]
    np.testing.assert_array_equal(scores[0, :2], [2, 0])
    ids, _ = model.recommend([0], n=3, exclude=[[3]])
    assert ids.tolist() == [[4, -1, -1]]


def test_embeddings_recover_planted_communities(communities):
    model, edges, held_out, community = communities
    rng = np.random.default_rng(2)
    random_pairs = rng.integers(0, community.size, size=(held_out.sum(), 2))
    random_pairs = random_pairs[random_pairs[:, 0] != random_pairs[:, 1]]
    pairs = np.r_[edges[held_out], random_pairs]
    labels = np.r_[np.ones(held_out.sum()), np.zeros(len(random_pairs))]
    # held-out edges are mostly inside communities, random pairs mostly across; ranking by
    # "same community" (the planted truth) sets the ceiling
    oracle = roc_auc(labels, (community[pairs[:, 0]] == community[pairs[:, 1]]).astype(float))
    assert oracle > 0.75
    assert roc_auc(labels, model.score(pairs)) > oracle - 0.1
    unit = model.node_vectors() / np.linalg.norm(model.node_vectors(), axis=1, keepdims=True)
    cosine = unit @ unit.T
    same = community[:, None] == community[None, :]
    assert cosine[same].mean() > cosine[~same].mean() + 0.3
    ids, scores = model.recommend(np.arange(community.size), n=5)
    assert (community[ids] == community[:, None]).mean() > 0.8
    assert (np.diff(scores, axis=1) <= 0).all()


def test_history_records_loss_and_validation_auc():
    edges, community = planted_communities(seed=3, sizes=(20, 20))
    pairs = np.array([[0, 1], [0, 30], [21, 22], [5, 25]])
    model = NodeEmbedding(dim=8, epochs=4, batch_size=128).fit(
        edges, validation=(pairs, [1, 0, 1, 0])
    )
    assert len(model.history.series["loss"]) == len(model.history.series["val_auc"]) == 4


@pytest.mark.parametrize("kind", ["cn", "aa", "embedding"])
def test_save_load_round_trip_is_identical(tmp_path, communities, kind):
    embedding, edges, held_out, community = communities
    model = {"cn": CommonNeighbours, "aa": AdamicAdar}.get(kind)
    model = model().fit(edges[~held_out], n_nodes=community.size) if model else embedding
    model.save(tmp_path / kind)
    loaded = Model.load(tmp_path / kind)
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.score(edges), model.score(edges))
    for got, expected in zip(loaded.recommend([0, 5], 4), model.recommend([0, 5], 4), strict=True):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    ("edges", "kwargs", "message"),
    [
        (np.array([1, 2]), {}, r"\[m, 2\]"),
        (np.zeros((0, 2), dtype=int), {}, "non-empty"),
        (np.array([[0.5, 1.0]]), {}, "integer"),
        (np.array([[-1, 2]]), {}, "non-negative"),
        (np.array([[0, 5]]), {"n_nodes": 3}, "out of range"),
        (np.array([[2, 2]]), {}, "only self-loops"),
        (SMALL, {"validation": (SMALL, [1, 1])}, "one per pair"),
    ],
)
def test_bad_graph_is_refused(edges, kwargs, message):
    with pytest.raises(ValueError, match=message):
        AdamicAdar().fit(edges, **kwargs)


def test_bad_queries_are_refused():
    model = AdamicAdar().fit(SMALL)
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        model.score([[0, 9]])
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        model.recommend([7])
    with pytest.raises(ValueError, match="positive integer"):
        model.recommend([0], n=0)
    with pytest.raises(ValueError, match="one list of node indices per node"):
        model.recommend([0, 1], exclude=[[2]])
    with pytest.raises(ValueError, match="call fit"):
        AdamicAdar().score([[0, 1]])


@pytest.mark.skipif(
    not dataset_path("snap-ego-facebook").is_dir(), reason="shared SNAP data not found"
)
def test_adamic_adar_on_ego_facebook_held_out_edges():
    from ml.datasets.snap import load_ego_facebook

    edges = load_ego_facebook()
    rng = np.random.default_rng(0)
    held_out = rng.random(len(edges)) < 0.1
    model = AdamicAdar().fit(edges[~held_out], n_nodes=4039)
    random_pairs = rng.integers(0, 4039, size=(2000, 2))
    pairs = np.r_[edges[held_out][:2000], random_pairs]
    labels = np.r_[np.ones(2000), np.zeros(2000)]
    assert roc_auc(labels, model.score(pairs)) > 0.95


def test_saved_embeddings_serve_without_tensorflow(tmp_path, communities):
    model, edges, _, _ = communities
    model.save(tmp_path / "model")
    np.save(tmp_path / "pairs.npy", edges)
    script = f"""
import sys
sys.modules["tensorflow"] = None  # any import of TensorFlow or Keras now fails
sys.modules["keras"] = None
import numpy as np
from ml.base import Model
import ml.models.link_prediction
model = Model.load("{tmp_path}/model")
np.save("{tmp_path}/out.npy", model.score(np.load("{tmp_path}/pairs.npy")))
"""
    subprocess.run([sys.executable, "-c", script], check=True, cwd=REPO_ROOT, capture_output=True)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), model.score(edges))
