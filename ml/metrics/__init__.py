"""Evaluation metrics: ``ranking`` (top-N accuracy), ``beyond`` (coverage, diversity, novelty).

Submodules are imported explicitly (``from ml.metrics.ranking import ndcg_at_k``) so that one
family's metrics never pull in another's dependencies.
"""
