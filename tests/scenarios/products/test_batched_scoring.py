"""Precomputing lists scores users in batches; each list must be the one a request computes."""

import numpy as np
import pytest

from engine import registry
from scenarios.products import candidates


@pytest.mark.parametrize("model", ["itemknn", "als"])
def test_batched_lists_equal_one_user_at_a_time(store, train_products, monkeypatch, model):
    """Batches of 5 users share one model call: no row of the batch may leak into another's list
    (seen items, history weights, reasons)."""
    version = train_products(model=model)
    assert version.status == "promoted", version.error
    scenario = registry.get("products")
    users = scenario.users_to_score(version)
    monkeypatch.setattr(candidates, "BATCH_SCORES", 5 * 12)  # batches of 5 users on 12 items
    batched = scenario.score_users(version, lambda *_: None, users)
    monkeypatch.setattr(candidates, "BATCH_SCORES", 1)  # one user per model call
    alone = scenario.score_users(version, lambda *_: None, users)
    assert sorted(batched) == sorted(alone) == sorted(users)
    for user in users:
        assert batched[user]["stamp"] == alone[user]["stamp"]
        assert batched[user]["categories"] == alone[user]["categories"]
        assert [i for i, _, _ in batched[user]["items"]] == [i for i, _, _ in alone[user]["items"]]
        assert [r for _, _, r in batched[user]["items"]] == [r for _, _, r in alone[user]["items"]]
        np.testing.assert_allclose(
            [s for _, s, _ in batched[user]["items"]],
            [s for _, s, _ in alone[user]["items"]],
            rtol=1e-5,
        )
