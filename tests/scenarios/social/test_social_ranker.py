"""ml.models.people_ranker: the candidates, the features, the learned order and its saved form."""

import numpy as np
import pytest
import scipy.sparse as sp

from ml.base import Model
from ml.models.people_ranker import PeopleRanker, fit_listwise

TINY = {"dim": 4, "epochs": 2, "batch_size": 256, "seed": 0}


def communities(n_groups=4, size=25, p_in=0.35, p_out=0.01, seed=0) -> np.ndarray:
    """Undirected edges of a planted partition graph (dense groups, sparse across)."""
    rng = np.random.default_rng(seed)
    n = n_groups * size
    group = np.arange(n) // size
    u, v = np.triu_indices(n, k=1)
    p = np.where(group[u] == group[v], p_in, p_out)
    keep = rng.random(len(u)) < p
    return np.c_[u[keep], v[keep]]


@pytest.fixture(scope="module")
def fitted():
    edges = communities()
    return PeopleRanker(**TINY).fit(edges, n_nodes=100, directed=False), edges


def test_suggestions_are_never_the_node_or_a_neighbour_and_are_sorted(fitted):
    model, edges = fitted
    nodes = np.arange(100)
    found = model.suggest(nodes, 10)
    neighbours = {(a, b) for a, b in edges.tolist()} | {(b, a) for a, b in edges.tolist()}
    for node, ids, scores in zip(nodes, found.ids, found.scores, strict=True):
        shown = ids[ids >= 0]
        assert node not in shown and not {(node, v) for v in shown.tolist()} & neighbours
        assert np.all(np.diff(scores[ids >= 0]) <= 0)


def test_suggestions_stay_mostly_inside_the_community(fitted):
    model, _ = fitted
    found = model.suggest(np.arange(100), 5).ids
    rows = np.repeat(np.arange(100), 5)[found.ravel() >= 0]
    same = (rows // 25) == (found.ravel()[found.ravel() >= 0] // 25)
    assert same.mean() > 0.9


def test_features_count_the_shared_neighbours(fitted):
    model, edges = fitted
    found = model.suggest(np.arange(10), 5)
    linked = sp.csr_matrix(
        (
            np.ones(2 * len(edges)),
            (np.r_[edges[:, 0], edges[:, 1]], np.r_[edges[:, 1], edges[:, 0]]),
        ),
        shape=(100, 100),
    )
    shared = (linked @ linked).toarray()
    mutual = np.rint(np.expm1(found.feature("common_neighbours"))).astype(int)
    for node in range(10):
        for candidate, count in zip(found.ids[node], mutual[node], strict=True):
            if candidate >= 0:
                assert count == shared[node, candidate]


def test_a_saved_ranker_loads_with_the_same_suggestions(fitted, tmp_path):
    model, _ = fitted
    model.save(tmp_path / "ranker")
    loaded = Model.load(tmp_path / "ranker")
    before, after = model.suggest(np.arange(100), 10), loaded.suggest(np.arange(100), 10)
    np.testing.assert_array_equal(before.ids, after.ids)
    np.testing.assert_allclose(before.scores, after.scores, rtol=1e-5)
    pairs = np.array([[0, 1], [0, 60], [30, 31]])
    np.testing.assert_allclose(model.score(pairs), loaded.score(pairs), rtol=1e-5)


def test_pair_scores_rank_a_community_pair_above_a_cross_pair(fitted):
    model, edges = fitted
    existing = {tuple(e) for e in edges.tolist()}
    inside = [(0, v) for v in range(1, 25) if (0, v) not in existing][:3]
    across = [(0, v) for v in range(50, 75) if (0, v) not in existing][:3]
    scores = model.score(np.array(inside + across))
    assert scores[:3].min() > scores[3:].max()


def test_follows_you_is_a_feature_of_directed_graphs():
    # 0 follows 1; 2 and 3 follow 0; 4 is two links away (via 3) and does not follow 0.
    edges = np.array([[0, 1], [1, 2], [2, 0], [3, 0], [3, 1], [4, 3]])
    model = PeopleRanker(**TINY).fit(edges, n_nodes=5, directed=True)
    found = model.suggest(np.array([0]), 4)
    shown = found.ids[0][found.ids[0] >= 0].tolist()
    assert 1 not in shown  # already followed
    follows_you = dict(zip(shown, found.feature("follows_you")[0].tolist(), strict=False))
    assert follows_you[2] == follows_you[3] == 1 and follows_you.get(4, 0) == 0


def test_purchase_histories_give_the_same_brands_feature():
    edges = communities(n_groups=2, size=20)
    purchases = sp.csr_matrix(np.repeat(np.eye(2), 20, axis=0))  # group 0 buys brand 0
    model = PeopleRanker(**TINY).fit(edges, n_nodes=40, directed=False, purchases=purchases)
    found = model.suggest(np.arange(40), 5)
    ids, brands = found.ids.ravel(), found.feature("same_brands").ravel()
    rows = np.repeat(np.arange(40), 5)
    valid = ids >= 0
    same_group = rows[valid] // 20 == ids[valid] // 20
    np.testing.assert_allclose(brands[valid], same_group.astype(float), atol=1e-5)


def test_a_tiny_graph_falls_back_to_adamic_adar_order():
    model = PeopleRanker(**TINY).fit(np.array([[0, 1], [1, 2]]), n_nodes=3, directed=False)
    assert "Adamic-Adar" in model.training_summary["ranker"]
    assert model.suggest(np.array([0]), 2).ids[0][0] == 2


def test_listwise_weights_put_the_telling_feature_first():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(200), 20)
    signal, noise = rng.normal(size=len(groups)), rng.normal(size=len(groups))
    labels = np.zeros(len(groups))
    labels[np.arange(0, len(groups), 20) + signal.reshape(200, 20).argmax(axis=1)] = 1
    weights, losses = fit_listwise(np.c_[signal, noise], labels, groups, l2=1e-4)
    assert weights[0] > 5 * abs(weights[1]) and losses[-1] < losses[0]


@pytest.mark.parametrize(
    "params",
    [{"features": []}, {"features": ["magic"]}, {"label_share": 0}, {"rerank_depth": 0}, {"x": 1}],
)
def test_bad_hyperparameters_are_refused(params):
    with pytest.raises(ValueError):
        PeopleRanker(**params)


def test_bad_input_is_refused(fitted):
    model, _ = fitted
    with pytest.raises(ValueError, match="node indices"):
        model.suggest(np.array([100]), 5)
    with pytest.raises(ValueError, match="positive"):
        model.suggest(np.array([0]), 0)
    with pytest.raises(ValueError):
        PeopleRanker(**TINY).fit(np.array([[0, 0]]))
    with pytest.raises(ValueError):
        PeopleRanker(**TINY).fit(np.array([[0.5, 1.0]]))


def test_past_the_exact_limit_embedding_neighbours_come_from_faiss(fitted, monkeypatch):
    """A million people cannot score every node against every node: past the limit the nearest
    nodes by embedding logit come from a faiss index on [vector, bias], and agree with exact."""
    from ml.index import FaissIndex
    from ml.models import people_ranker

    model, _ = fitted
    nodes = np.arange(100)
    exact = model._embedding_neighbours(nodes, 5)
    monkeypatch.setattr(people_ranker, "EXACT_NEIGHBOUR_NODES", 10)
    model._neighbour_index = None
    approximate = model._embedding_neighbours(nodes, 5)
    assert isinstance(model._neighbour_index, FaissIndex)
    found = [len(set(a) & set(e)) / len(e) for a, e in zip(approximate, exact, strict=True)]
    assert np.mean(found) > 0.95
    suggested = model.suggest(nodes, 5).ids  # the whole ranker on the faiss candidates
    rows = np.repeat(nodes, 5)[suggested.ravel() >= 0]
    assert ((rows // 25) == (suggested.ravel()[suggested.ravel() >= 0] // 25)).mean() > 0.9
    model._neighbour_index = None
