"""Scenario test fixtures, shared with tests/engine: fresh engine state, planted store, training."""

import pytest

from tests.engine.fixtures import fresh_engine, store, train_products

__all__ = ["fresh_engine", "store", "train_products", "trained"]


@pytest.fixture
def trained(store, train_products):
    """The planted store with an item-kNN version trained and promoted."""
    version = train_products(model="itemknn")
    assert version.status == "promoted", version.error
    return version
