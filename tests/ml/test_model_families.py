"""``topn_family_names``: every top-N family, listed without TensorFlow, each usable as the
products scenario uses it (default settings, fit, save, load, recommend, similar items)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from ml.base import MODEL_REGISTRY, Recommender, topn_family_names
from ml.datasets.common import REPO_ROOT

N_USERS, N_ITEMS = 40, 20


def test_families_are_every_registered_recommender_sorted():
    names = topn_family_names()
    assert names == sorted(names)
    assert {"ensemble", "seqknn", "als", "bpr", "two_tower", "neumf", "popularity"} <= set(names)
    assert all(issubclass(MODEL_REGISTRY[name], Recommender) for name in names)
    others = {name for name, cls in MODEL_REGISTRY.items() if not issubclass(cls, Recommender)}
    assert {"deepfm", "two_head_uplift", "dual_encoder"} <= others
    assert not others & set(names)


def test_listing_the_families_never_imports_tensorflow():
    script = """
import json, sys
from ml.base import topn_family_names
names = topn_family_names()
print(json.dumps({"names": names, "tensorflow": "tensorflow" in sys.modules}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], check=True, cwd=REPO_ROOT, capture_output=True, text=True
    )
    found = json.loads(done.stdout)
    assert found == {"names": topn_family_names(), "tensorflow": False}


def small_matrix() -> sp.csr_matrix:
    """Fewer interactions (about 200) than the default batch of the neural models."""
    rng = np.random.default_rng(8)
    dense = np.zeros((N_USERS, N_ITEMS), np.float32)
    for user in range(N_USERS):
        liked = np.arange(10) if user % 2 else np.arange(10, 20)
        dense[user, rng.choice(liked, 5, replace=False)] = rng.integers(1, 4, 5)
    return sp.csr_matrix(dense)


@pytest.mark.parametrize("name", topn_family_names())
def test_every_family_serves_products_with_default_settings(name, tmp_path):
    matrix = small_matrix()
    model = MODEL_REGISTRY[name]().fit(matrix, user_features=None)
    assert all(np.isfinite(value) for series in model.history.series.values() for value in series)
    loaded = type(model).load(model.save(tmp_path / name))
    assert loaded.history.to_dict() == model.history.to_dict()
    basket = matrix[[0]]
    ids, scores = loaded.recommend([-1], basket, n=5)
    assert (ids >= 0).all() and np.isfinite(scores).all()
    np.testing.assert_array_equal(ids, model.recommend([-1], basket, n=5)[0])
    vectors = loaded.item_embeddings()
    if vectors is not None:
        assert vectors.shape[0] == N_ITEMS
        return
    if name == "popularity":  # no item similarity: products' similar mode needs its own answer
        with pytest.raises(NotImplementedError):
            loaded.similar_items([3], n=4)
        return
    similar, _ = loaded.similar_items([3], n=4)
    assert (similar >= 0).all() and 3 not in similar
