"""Scenario test fixtures, shared with tests/engine: fresh engine state, planted store, training."""

from tests.engine.fixtures import fresh_engine, store, train_products

__all__ = ["fresh_engine", "store", "train_products"]
