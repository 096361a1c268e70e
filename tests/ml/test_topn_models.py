"""Hand-computed checks of what each top-N model computes (beyond the shared contract)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from ml.models.ease import EASE
from ml.models.ensemble import Ensemble, standardise
from ml.models.itemknn import ItemKNN, item_similarity, prune_rows
from ml.models.popularity import Popularity, decayed_weights
from ml.models.seqknn import sequence_cooccurrence

DAY = 86_400.0


def test_decayed_weights_halve_every_half_life_and_ignore_the_future():
    now = 10 * DAY
    weights = decayed_weights(np.array([now, now - DAY, now - 2 * DAY, now + DAY]), now, 1.0)
    np.testing.assert_allclose(weights, [1.0, 0.5, 0.25, 1.0], rtol=1e-6)
    scaled = decayed_weights(np.array([now - 7 * DAY]), now, 7.0, values=np.array([4.0]))
    np.testing.assert_allclose(scaled, [2.0], rtol=1e-6)
    with pytest.raises(ValueError, match="half_life_days"):
        decayed_weights(np.array([0.0]), now, 0.0)


def test_recent_events_outrank_old_ones_in_decayed_popularity():
    # Item 0: three events 30 days ago; item 1: two events today. Half-life 7 days.
    now = 100 * DAY
    stamps = np.array([now - 30 * DAY] * 3 + [now] * 2)
    users, items = np.array([0, 1, 2, 0, 1]), np.array([0, 0, 0, 1, 1])
    weights = decayed_weights(stamps, now, 7.0)
    matrix = sp.csr_matrix((weights, (users, items)), shape=(3, 2))
    model = Popularity(segment_weight=0.0).fit(matrix)
    ids, scores = model.recommend([-1], sp.csr_matrix((1, 2)), n=2)
    assert ids.tolist() == [[1, 0]]
    # 2 today vs 3 * 0.5 ** (30 / 7) = 0.1533: scaled by the maximum (2.0).
    np.testing.assert_allclose(scores[0], [1.0, 3 * 0.5 ** (30 / 7) / 2], rtol=1e-5)


def test_segment_popularity_serves_cold_users_their_segment():
    # Segment A (users 0, 1) loves item 0, segment B (user 2) loves item 2.
    matrix = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 0], [0, 0, 1]], dtype=np.float32))
    segments = np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32)
    model = Popularity(segment_weight=1.0).fit(matrix, user_features=segments)
    np.testing.assert_allclose(model.segment_scores([[0, 1]]), [[0.0, 0.0, 1.0]])
    np.testing.assert_allclose(model.segment_scores([[1, 0]]), [[1.0, 0.5, 0.0]])
    with pytest.raises(ValueError, match="memberships"):
        model.segment_scores([[1, 0, 0]])


def test_item_similarities_match_hand_counts():
    # Items 0 and 1 share users 0 and 1; item 0 has 3 users, item 1 has 2, item 2 has 1.
    binary = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [1, 0, 1]], dtype=np.float32))
    cosine = item_similarity(binary, "cosine", shrink=0.0).toarray()
    jaccard = item_similarity(binary, "jaccard", shrink=0.0).toarray()
    lift = item_similarity(binary, "lift", shrink=0.0).toarray()
    assert cosine[0, 1] == pytest.approx(2 / np.sqrt(3 * 2))
    assert jaccard[0, 1] == pytest.approx(2 / (3 + 2 - 2))
    assert lift[0, 2] == pytest.approx(1 / (3 * 1))
    assert cosine[1, 2] == 0 and np.all(np.diag(cosine) == 0)
    with pytest.raises(ValueError, match="unknown similarity"):
        item_similarity(binary, "pearson", 0.0)


def test_prune_rows_keeps_the_largest_entries():
    matrix = sp.csr_matrix(np.array([[0.1, 0.5, 0.3], [0.2, 0.0, 0.9]], dtype=np.float32))
    np.testing.assert_allclose(prune_rows(matrix, 1).toarray(), [[0, 0.5, 0], [0, 0, 0.9]])


def test_itemknn_scores_sum_neighbour_similarities():
    binary = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [1, 0, 1]], dtype=np.float32))
    model = ItemKNN(similarity="cooccurrence", neighbours=0).fit(binary)
    ids, scores = model.recommend([-1], sp.csr_matrix(np.array([[1, 0, 0]], np.float32)), n=2)
    # Item 1 co-occurs with item 0 twice, item 2 once.
    assert ids.tolist() == [[1, 2]] and scores.tolist() == [[2.0, 1.0]]


def test_ease_matches_the_constrained_least_squares_solution():
    rng = np.random.default_rng(0)
    dense = (rng.random((40, 6)) < 0.4).astype(np.float32)
    l2 = 5.0
    model = EASE(l2=l2).fit(sp.csr_matrix(dense))
    # Column j of B solves ridge regression of X[:, j] on the other columns.
    for j in range(6):
        others = [c for c in range(6) if c != j]
        x = dense[:, others].astype(np.float64)
        expected = np.linalg.solve(x.T @ x + l2 * np.eye(5), x.T @ dense[:, j])
        np.testing.assert_allclose(model.weights_[others, j], expected, rtol=1e-4, atol=1e-5)
        assert model.weights_[j, j] == 0


def test_ease_dropout_penalises_popular_items_more():
    rng = np.random.default_rng(1)
    dense = (rng.random((60, 8)) < 0.5).astype(np.float32)
    plain = EASE(l2=5.0).fit(sp.csr_matrix(dense)).weights_
    emphasised = EASE(l2=5.0, dropout=0.5).fit(sp.csr_matrix(dense)).weights_
    assert np.abs(emphasised).sum() < np.abs(plain).sum()


def test_sequence_cooccurrence_counts_nearby_steps_with_decay():
    # One user: items 2, 0, 1 at times 1, 2, 3 (values are event times, given out of order).
    times = sp.csr_matrix(np.array([[2.0, 3.0, 1.0]], dtype=np.float32))
    counts = sequence_cooccurrence(times, window=2, decay=0.5).toarray()
    # Adjacent pairs (2,0) and (0,1) weigh 1; the pair two steps apart (2,1) weighs 0.5.
    np.testing.assert_allclose(counts, [[0, 1, 1], [1, 0, 0.5], [1, 0.5, 0]])


def test_standardise_gives_zero_mean_unit_spread_rows():
    z = standardise(np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]]))
    np.testing.assert_allclose(z[0], [-1.2247449, 0.0, 1.2247449], rtol=1e-6)
    np.testing.assert_allclose(z[1], [0.0, 0.0, 0.0])


def test_ensemble_refuses_bad_members():
    matrix = sp.csr_matrix(np.eye(3, dtype=np.float32))
    with pytest.raises(ValueError, match="ensemble member"):
        Ensemble(members=[["no_such_model", {}]]).fit(matrix)
    with pytest.raises(ValueError, match="one number per member"):
        Ensemble(members=[["ease", {}]], weights=[1.0, 2.0]).fit(matrix)
    with pytest.raises(ValueError, match="top-N"):
        Ensemble(members=[["ensemble", {}]]).fit(matrix)


def test_tuned_ensemble_is_never_worse_on_validation_than_its_best_member():
    """Two taste groups: EASE sees them, popularity cannot; the blend must keep EASE's score."""
    from ml.models.common import validation_ndcg

    rng = np.random.default_rng(2)
    train = np.zeros((40, 20), np.float32)
    validation = np.zeros_like(train)
    for user in range(40):
        liked = np.arange(10) if user % 2 == 0 else np.arange(10, 20)
        picked = rng.permutation(liked)
        train[user, picked[:5]] = 1.0
        validation[user, picked[5:7]] = 1.0
    train, validation = sp.csr_matrix(train), sp.csr_matrix(validation)
    members = [["popularity", {}], ["ease", {"l2": 10.0}]]
    blend = Ensemble(members=members, weights=[1.0, 0.1]).fit(train, validation=validation)

    def validation_score(member) -> float:
        scores = member._score(np.arange(40), train)
        return validation_ndcg(lambda users: scores[users], train, validation)

    member_scores = [
        validation_score(Popularity().fit(train)),
        validation_score(EASE(l2=10.0).fit(train)),
    ]
    assert member_scores[1] > member_scores[0]
    assert blend.history.series["val_ndcg@10"][-1] >= max(member_scores) - 1e-9


def test_two_tower_places_new_items_by_their_features():
    """Items of 3 genres, users who each stick to one genre; a new item lands among its genre."""
    from ml.models.two_tower import TwoTower

    rng = np.random.default_rng(5)
    genres = np.repeat(np.arange(3), 8)
    features = np.eye(3, dtype=np.float32)[genres]
    dense = np.zeros((45, 24), np.float32)
    for user in range(45):
        dense[user, rng.choice(np.flatnonzero(genres == user % 3), 5, replace=False)] = 1.0
    model = TwoTower(dim=8, epochs=8, batch_size=32, temperature=0.2, learning_rate=0.02)
    model.fit(sp.csr_matrix(dense), item_features=features)
    new_items = model.embed_items(np.eye(3, dtype=np.float32))
    affinity = new_items @ model.item_embeddings().T  # [3 new items, 24 known items]
    for genre in range(3):
        same = affinity[genre, genres == genre].mean()
        assert same > affinity[genre, genres != genre].mean() + 0.2
    with pytest.raises(ValueError, match="item_features must be"):
        model.embed_items(np.ones((1, 4)))


def test_als_conjugate_gradient_reaches_the_exact_ridge_solution():
    from ml.models.als import conjugate_gradient_rows, solve_rows

    rng = np.random.default_rng(2)
    matrix = sp.csr_matrix((rng.random((12, 9)) < 0.4) * rng.integers(1, 4, (12, 9)))
    fixed = rng.normal(0, 0.5, (9, 4))
    exact = solve_rows(matrix, fixed, alpha=2.0, l2=0.5)
    # Row 0 by hand: (F^T F + l2 I + F^T diag(alpha r) F) x = F^T (1 + alpha r) on its items.
    items, values = matrix[0].indices, matrix[0].data
    gram = fixed.T @ fixed + 0.5 * np.eye(4) + (fixed[items].T * 2.0 * values) @ fixed[items]
    by_hand = np.linalg.solve(gram, fixed[items].T @ (1.0 + 2.0 * values))
    np.testing.assert_allclose(exact[0], by_hand, rtol=1e-4)
    # Four steps solve a 4-dimensional system (CG is exact in at most f steps).
    approx = conjugate_gradient_rows(matrix, fixed, 2.0, 0.5, np.zeros((12, 4)), steps=4)
    np.testing.assert_allclose(approx, exact, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("name", ["bpr", "two_tower", "neumf"])
@pytest.mark.parametrize("param", ["epochs", "batch_size", "learning_rate"])
def test_neural_models_refuse_non_positive_training_settings(name, param):
    from ml.base import MODEL_REGISTRY

    with pytest.raises(ValueError, match=f"{param} must be positive"):
        MODEL_REGISTRY[name](**{param: 0}).fit(sp.csr_matrix(np.eye(3, dtype=np.float32)))


@pytest.mark.parametrize(
    ("name", "arrays"),
    [
        ("als", ("user_factors", "item_factors")),
        ("bpr", ("user_factors", "item_factors", "item_bias")),
        ("two_tower", ("user_vectors", "item_vectors", "item_kernel")),
    ],
)
def test_factor_models_load_and_resave_the_artifact_format_they_always_wrote(
    name, arrays, tmp_path
):
    """A folder written by hand in the existing layout loads, scores, and saves back unchanged
    (ALS adds its value scale to the metadata)."""
    from ml.artifacts import load_folder, save_folder
    from ml.base import Model

    rng = np.random.default_rng(4)
    shapes = {
        "user_factors": (5, 3),
        "user_vectors": (5, 3),
        "item_factors": (7, 3),
        "item_vectors": (7, 3),
        "item_bias": (7,),
        "item_kernel": (0, 3),
    }
    state = {key: rng.normal(size=shapes[key]).astype(np.float32) for key in arrays}
    state["popularity"] = rng.random(7).astype(np.float32)
    config = {"name": name, "family": "topn", "params": {}, "history": {"loss": [1.0]}}
    save_folder(tmp_path / "old", {**config, "meta": {"n_users": 5}}, state)

    model = Model.load(tmp_path / "old")
    assert (model.n_users, model.n_items) == (5, 7)
    users = state.get("user_factors", state.get("user_vectors"))
    items = state.get("item_factors", state.get("item_vectors"))
    expected = users[[2]] @ items.T + state.get("item_bias", 0.0)
    np.testing.assert_allclose(model._score(np.array([2]), sp.csr_matrix((1, 7))), expected)

    model.save(tmp_path / "new")
    old_config, old_arrays = load_folder(tmp_path / "old")
    new_config, new_arrays = load_folder(tmp_path / "new")
    assert old_config["meta"] == {"n_users": 5}
    # ALS now also keeps the mean cell value it divides by; a folder without it reads 1.0.
    added = {"value_scale": 1.0} if name == "als" else {}
    assert new_config["meta"] == {**old_config["meta"], **added}
    assert new_config["history"] == old_config["history"]
    assert list(new_arrays) == list(old_arrays)
    for key, value in old_arrays.items():
        np.testing.assert_array_equal(new_arrays[key], value)


def test_ensemble_similar_items_blend_the_members_that_have_them():
    """Popularity has no item similarity, so a blend with item-kNN ranks as item-kNN alone."""
    rng = np.random.default_rng(6)
    matrix = sp.csr_matrix((rng.random((40, 15)) < 0.3).astype(np.float32))
    knn = ItemKNN().fit(matrix)
    blend = Ensemble(members=[["popularity", {}], ["itemknn", {}]], tune_weights=False)
    ids, scores = blend.fit(matrix).similar_items([0, 5], n=4)
    np.testing.assert_array_equal(ids, knn.similar_items([0, 5], n=4)[0])
    assert np.all(np.diff(scores, axis=1) <= 0)
    with pytest.raises(NotImplementedError, match="item similarity"):
        Ensemble(members=[["popularity", {}]]).fit(matrix).similar_items([0])


def test_als_pair_dots_in_chunks_equal_the_gathered_product(monkeypatch):
    """The fit's dot products of every non-zero's two vectors, a chunk at a time (the whole
    gather was gigabytes at millions of events): the same numbers across chunk edges."""
    from ml.models import als

    rng = np.random.default_rng(3)
    users, items = rng.normal(size=(9, 4)).astype(np.float32), rng.normal(size=(6, 4))
    rows, cols = rng.integers(0, 9, 50), rng.integers(0, 6, 50)
    monkeypatch.setattr(als, "PAIR_CHUNK", 7)
    found = als.pair_dots(users, items, rows, cols)
    np.testing.assert_allclose(found, np.einsum("nf,nf->n", users[rows], items[cols]), rtol=1e-6)
    assert found.dtype == np.float64 and found.shape == (50,)
