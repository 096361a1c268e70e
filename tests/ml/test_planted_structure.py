"""Every top-N model must recover planted tastes that popularity cannot see.

Users belong to one of four taste groups; each group consumes its own block of items (in runs,
so the sequence model has its signal too), plus a few globally popular items everyone shares.
On a held-out 25% of each user's items, a model that does not beat the most-popular list on
NDCG@10 has learnt nothing from the co-occurrence structure and is broken.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
import scipy.sparse as sp

import ml.models  # noqa: F401  (registers every model)
from ml.base import MODEL_REGISTRY, Recommender
from ml.metrics.ranking import ndcg_at_k
from ml.splits import stratified_split_matrix

N_GROUPS, USERS_PER_GROUP, ITEMS_PER_GROUP, N_POPULAR = 4, 30, 14, 4
N_USERS = N_GROUPS * USERS_PER_GROUP
N_ITEMS = N_GROUPS * ITEMS_PER_GROUP + N_POPULAR

# Enough training for the planted signal; still a few seconds each on a shared machine.
PLANTED_PARAMS = {
    "bpr": {"factors": 16, "epochs": 25, "batch_size": 128, "learning_rate": 0.02},
    "two_tower": {"dim": 16, "epochs": 15, "batch_size": 64, "temperature": 0.2},
    "neumf": {"gmf_dim": 8, "mlp_dim": 8, "epochs": 10, "batch_size": 128, "learning_rate": 0.01},
    "ensemble": {"members": [["ease", {"l2": 10.0}], ["rp3beta", {}]], "weights": [1.0, 1.0]},
}
# Models whose interaction values are event times rather than weights.
TIMED = {"seqknn"}


@cache
def planted() -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
    """(train times, train binary, held-out binary); times are each user's event order."""
    rng = np.random.default_rng(3)
    times = np.zeros((N_USERS, N_ITEMS), np.float32)
    popular = np.arange(N_GROUPS * ITEMS_PER_GROUP, N_ITEMS)
    for user in range(N_USERS):
        group = user // USERS_PER_GROUP
        block = np.arange(group * ITEMS_PER_GROUP, (group + 1) * ITEMS_PER_GROUP)
        taken = np.sort(rng.choice(block, 8, replace=False))  # a run through the block
        extra = rng.choice(popular, 3, replace=False)
        for order, item in enumerate(np.concatenate([taken, extra])):
            times[user, item] = order + 1.0
    matrix = sp.csr_matrix(times)
    train, test = stratified_split_matrix(matrix, ratio=0.75, seed=11)
    binary = train.copy()
    binary.data[:] = 1.0
    test.data[:] = 1.0
    return train, binary, test


def held_out_ndcg(model: Recommender, name: str) -> float:
    times, binary, test = planted()
    train = times if name in TIMED else binary
    model.fit(train)
    users = np.arange(N_USERS)
    ids, _ = model.recommend(users, train, n=10)
    return ndcg_at_k(ids, test, 10)


@pytest.mark.parametrize(
    "name",
    sorted(
        name
        for name, cls in MODEL_REGISTRY.items()
        if issubclass(cls, Recommender) and name != "popularity"
    ),
)
def test_model_beats_popularity_on_planted_tastes(name):
    baseline = held_out_ndcg(MODEL_REGISTRY["popularity"](), "popularity")
    score = held_out_ndcg(MODEL_REGISTRY[name](**PLANTED_PARAMS.get(name, {})), name)
    assert score > baseline + 0.1, f"{name}: NDCG@10 {score:.3f} vs popularity {baseline:.3f}"


def test_popularity_is_a_fair_baseline_here():
    """Popular items are truly shared, so the baseline is not a strawman."""
    assert held_out_ndcg(MODEL_REGISTRY["popularity"](), "popularity") > 0.1
