"""Re-ranking and filtering steps of the serving pipeline, on plain numpy arrays.

Every function takes candidate lists as ``[n_users, m]`` item indices padded with -1 (what
:meth:`ml.base.Recommender.recommend` returns, asked for more than the final ``n``) with their
scores, and returns ``[n_users, n]`` lists in the same form. Randomised steps take a seed or a
``numpy.random.Generator`` so a request can be replayed.

Filters are boolean masks over the catalog (True = allowed); combine them with ``&`` and pass
:func:`allowed_items` of the result to ``recommend(items=...)``, or blank scores with
:func:`apply_mask`.
"""

from __future__ import annotations

import numpy as np


def _candidates(ids: np.ndarray, scores: np.ndarray | None = None):
    ids = np.asarray(ids, dtype=np.int64)
    if ids.ndim != 2:
        raise ValueError(f"candidate ids must be a 2-D array [n_users, m], got shape {ids.shape}")
    if scores is None:
        return ids, None
    scores = np.asarray(scores, dtype=np.float32)
    if scores.shape != ids.shape:
        raise ValueError(f"scores {scores.shape} must have the shape of ids {ids.shape}")
    return ids, scores


def _check_n(n: int) -> None:
    if n < 1:
        raise ValueError("n must be at least 1")


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def mmr_order(scores: np.ndarray, similarity: np.ndarray, n: int, diversity: float) -> list[int]:
    """Positions of the greedy MMR picks in one candidate list.

    ``similarity`` is the list's pairwise similarity matrix, in whatever measure suits the
    caller (cosine of item vectors, shared category path). Each pick maximises
    ``(1 - diversity) * relevance - diversity * max similarity to the picks so far``, with the
    scores min-max scaled to [0, 1] as relevance so the two terms are comparable.
    """
    scores = np.asarray(scores, dtype=np.float64)
    spread = scores.max() - scores.min()
    relevance = (scores - scores.min()) / spread if spread > 0 else np.ones(len(scores))
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


def maximal_marginal_relevance(
    ids: np.ndarray,
    scores: np.ndarray,
    item_vectors: np.ndarray,
    n: int = 10,
    diversity: float = 0.3,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy MMR (:func:`mmr_order`) with the cosine of item vectors as similarity.

    ``diversity`` is MMR's lambda: 0 keeps the model's order, 1 picks the most dissimilar items.
    Returned scores are the model's original scores.
    """
    ids, scores = _candidates(ids, scores)
    _check_n(n)
    if not 0.0 <= diversity <= 1.0:
        raise ValueError(f"diversity must be in [0, 1], got {diversity}")
    vectors = np.asarray(item_vectors, dtype=np.float32)
    if vectors.ndim != 2 or ids.max(initial=-1) >= len(vectors):
        raise ValueError("item_vectors must be a 2-D array with a row for every candidate id")
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    out_ids = np.full((len(ids), n), -1, dtype=np.int64)
    out_scores = np.full((len(ids), n), -np.inf, dtype=np.float32)
    for row in range(len(ids)):
        valid = (ids[row] >= 0) & np.isfinite(scores[row])
        pool, pool_scores = ids[row][valid], scores[row][valid]
        if not len(pool):
            continue
        picks = mmr_order(pool_scores, unit[pool] @ unit[pool].T, n, diversity)
        out_ids[row, : len(picks)], out_scores[row, : len(picks)] = pool[picks], pool_scores[picks]
    return out_ids, out_scores


def epsilon_greedy(
    ids: np.ndarray,
    scores: np.ndarray,
    n: int = 10,
    epsilon: float = 0.1,
    seed: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep the top ``n`` but swap each slot, with probability ``epsilon``, for a random
    candidate from beyond the top ``n`` (so exploration stays among plausible items).

    Returns ids, scores and a boolean mask of the explored slots (to label them in
    explanations and to log them for off-policy evaluation).
    """
    ids, scores = _candidates(ids, scores)
    _check_n(n)
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
    rng = _rng(seed)
    out_ids = np.full((len(ids), n), -1, dtype=np.int64)
    out_scores = np.full((len(ids), n), -np.inf, dtype=np.float32)
    explored = np.zeros((len(ids), n), dtype=bool)
    for row in range(len(ids)):
        valid = ids[row] >= 0
        pool, pool_scores = ids[row][valid], scores[row][valid]
        order = np.argsort(-pool_scores, kind="stable")
        pool, pool_scores = pool[order], pool_scores[order]
        shown = min(n, len(pool))
        out_ids[row, :shown], out_scores[row, :shown] = pool[:shown], pool_scores[:shown]
        reserve = list(rng.permutation(np.arange(shown, len(pool))))
        for slot in np.flatnonzero(rng.random(shown) < epsilon):
            if not reserve:
                break
            pick = reserve.pop()
            out_ids[row, slot], out_scores[row, slot] = pool[pick], pool_scores[pick]
            explored[row, slot] = True
    return out_ids, out_scores, explored


def thompson_sampling(
    ids: np.ndarray,
    successes: np.ndarray,
    failures: np.ndarray,
    n: int = 10,
    prior: tuple[float, float] = (1.0, 1.0),
    seed: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Rank candidates by a draw from each item's Beta posterior of its success rate.

    ``successes`` / ``failures`` are per-item counts over the catalog (e.g. clicks and
    impressions without a click); ``prior`` is Beta(alpha, beta). Items with little feedback get
    wide posteriors and so are sometimes shown: exploration that fades as evidence accumulates.
    Returns ids and the sampled rates.
    """
    ids, _ = _candidates(ids)
    _check_n(n)
    wins = np.asarray(successes, dtype=np.float64)
    losses = np.asarray(failures, dtype=np.float64)
    if wins.shape != losses.shape or wins.ndim != 1:
        raise ValueError("successes and failures must be 1-D arrays of the same length")
    if (wins < 0).any() or (losses < 0).any():
        raise ValueError("successes and failures must be non-negative counts")
    if ids.max(initial=-1) >= len(wins):
        raise ValueError("successes and failures need a count for every candidate id")
    alpha, beta = prior
    if alpha <= 0 or beta <= 0:
        raise ValueError("prior parameters must be positive")
    rng = _rng(seed)
    safe = np.maximum(ids, 0)
    sampled = rng.beta(alpha + wins[safe], beta + losses[safe]).astype(np.float32)
    sampled[ids < 0] = -np.inf
    order = np.argsort(-sampled, axis=1, kind="stable")[:, :n]
    out_ids = np.take_along_axis(ids, order, axis=1)
    out_scores = np.take_along_axis(sampled, order, axis=1)
    if out_ids.shape[1] < n:
        pad = n - out_ids.shape[1]
        out_ids = np.pad(out_ids, ((0, 0), (0, pad)), constant_values=-1)
        out_scores = np.pad(out_scores, ((0, 0), (0, pad)), constant_values=-np.inf)
    return out_ids, out_scores


def category_prefix_mask(categories: np.ndarray, prefix: str) -> np.ndarray:
    """Items whose dot-separated category starts with ``prefix`` at a level boundary:
    ``"electronics"`` allows ``"electronics.smartphone"`` but not ``"electronicsx"``."""
    codes = np.asarray(categories, dtype=str)
    prefix = prefix.strip(".")
    if not prefix:
        raise ValueError("category prefix must not be empty")
    return (codes == prefix) | np.char.startswith(codes, prefix + ".")


def price_range_mask(
    prices: np.ndarray, low: float | None = None, high: float | None = None
) -> np.ndarray:
    """Items priced within ``[low, high]`` (either bound optional); unknown (NaN) prices fail."""
    prices = np.asarray(prices, dtype=np.float64)
    if low is not None and high is not None and low > high:
        raise ValueError(f"price range is empty: low {low} > high {high}")
    mask = np.isfinite(prices)
    if low is not None:
        mask &= prices >= low
    if high is not None:
        mask &= prices <= high
    return mask


def availability_mask(in_stock: np.ndarray) -> np.ndarray:
    """Items that can be sold now (stock counts > 0 or booleans)."""
    return np.asarray(in_stock) > 0


def exclude_mask(n_items: int, excluded: np.ndarray | list[int]) -> np.ndarray:
    """All items but ``excluded`` (e.g. a request's exclude list or items already in the cart)."""
    excluded = np.asarray(excluded, dtype=np.int64).reshape(-1)
    if ((excluded < 0) | (excluded >= n_items)).any():
        raise ValueError(f"excluded item indices must be in [0, {n_items})")
    mask = np.ones(n_items, dtype=bool)
    mask[excluded] = False
    return mask


def apply_mask(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Copy of ``scores`` [n_users, n_items] with disallowed items at -inf (mask per item or
    per user and item)."""
    scores = np.array(scores, dtype=np.float32)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape not in (scores.shape[-1:], scores.shape):
        raise ValueError(f"mask shape {mask.shape} fits neither items nor scores {scores.shape}")
    scores[np.broadcast_to(~mask, scores.shape)] = -np.inf
    return scores


def allowed_items(mask: np.ndarray) -> np.ndarray:
    """Indices of allowed items, for ``Recommender.recommend(items=...)``."""
    return np.flatnonzero(np.asarray(mask, dtype=bool))
