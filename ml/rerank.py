"""Re-ranking steps of the serving pipeline, on plain numpy arrays.

The engine's pipeline (``engine.pipeline.diversify``) calls :func:`mmr_order` with the
similarity its scenario measures; filters and exploration act on catalog snapshots there.
"""

from __future__ import annotations

import numpy as np


def mmr_order(scores: np.ndarray, similarity: np.ndarray, n: int, diversity: float) -> list[int]:
    """Positions of the greedy maximal-marginal-relevance picks in one candidate list.

    ``similarity`` is the list's pairwise similarity matrix, in whatever measure suits the
    caller (cosine of item vectors, shared category path). Each pick maximises
    ``(1 - diversity) * relevance - diversity * max similarity to the picks so far``, with the
    scores min-max scaled to [0, 1] as relevance so the two terms are comparable; ``diversity``
    0 keeps the given order, 1 picks the most dissimilar items.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    if not 0.0 <= diversity <= 1.0:
        raise ValueError(f"diversity must be in [0, 1], got {diversity}")
    scores = np.asarray(scores, dtype=np.float64)
    similarity = np.asarray(similarity, dtype=np.float64)
    if similarity.shape != (len(scores), len(scores)):
        raise ValueError(
            f"similarity must be [{len(scores)}, {len(scores)}], one row per candidate; "
            f"got {similarity.shape}"
        )
    spread = scores.max(initial=0) - scores.min(initial=0)
    relevance = (scores - scores.min(initial=0)) / spread if spread > 0 else np.ones(len(scores))
    closest = np.full(len(scores), -np.inf)  # max similarity to the chosen items so far
    available = np.ones(len(scores), dtype=bool)
    picks: list[int] = []
    for _ in range(min(n, len(scores))):
        penalty = np.where(np.isfinite(closest), closest, 0.0)
        value = (1.0 - diversity) * relevance - diversity * penalty
        value[~available] = -np.inf
        pick = int(np.argmax(value))
        picks.append(pick)
        available[pick] = False
        closest = np.maximum(closest, similarity[pick])
    return picks
