"""Engine test fixtures: fresh engine state, the planted store, training through the engine."""

from tests.engine.fixtures import fresh_engine, store, train_products

__all__ = ["fresh_engine", "store", "train_products"]
