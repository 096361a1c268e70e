"""A user's candidate list: the model's scores folded in from their current events, with a
reason for each item; the list the scoring queue precomputes and a request caches."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from engine.snapshot import CatalogSnapshot
from scenarios.products.state import ServingState

SEEN_RULES = {
    "any": None,  # every positive event type
    "purchased": ("purchase",),
    "none": (),
}
VERBS = {
    "purchase": "bought",
    "add_to_cart": "added to your cart",
    "view": "viewed",
    "click": "viewed",
    "rating": "rated",
    "like": "liked",
    "share": "shared",
}


# Scores a batch holds at once (users x catalog, float32): 16 MB, whatever the catalog's size.
BATCH_SCORES = 1 << 22


def user_candidates(
    state: ServingState,
    snapshot: CatalogSnapshot,
    user_id: str,
    history: list[tuple[int, int, str]],
    stamp: Any,
) -> dict[str, Any]:
    """The candidate list of one user (before request filters), as cached under ``stamp``: a
    cached list with another stamp is stale."""
    return users_candidates(state, snapshot, [(user_id, history, stamp)])[0]


def users_candidates(
    state: ServingState,
    snapshot: CatalogSnapshot,
    users: list[tuple[str, list[tuple[int, int, str]], Any]],
) -> list[dict[str, Any]]:
    """The candidate lists of ``users`` (user id, history newest first, stamp), scored in
    batches: one model call per batch (a factor model's one matrix product instead of one per
    user), what precomputing every user's list runs."""
    state.align(snapshot)
    width = max(1, BATCH_SCORES // max(len(state.items), 1))
    found = []
    for start in range(0, len(users), width):
        found += _batch_candidates(state, snapshot, users[start : start + width])
    return found


def _batch_candidates(state, snapshot, users) -> list[dict[str, Any]]:
    weights = state.event_weights
    seen_types = SEEN_RULES[state.settings["filter_seen"]]
    row_of, column, weight, seen_of, recent_of, rows_of = [], [], [], [], [], []
    for position, (_, history, _) in enumerate(users):
        rows = [snapshot.row_of_pk.get(item_pk, -1) for _, item_pk, _ in history]
        seen, recent = set(), {}
        for (_, _, kind), row in zip(history, rows, strict=True):
            if row < 0:
                continue
            index = int(state.model_index[row])
            if kind in weights and index >= 0:
                row_of.append(position)
                column.append(index)
                weight.append(weights[kind])
                recent.setdefault(index, kind)
            is_seen = kind in weights if seen_types is None else kind in seen_types
            if is_seen and index >= 0:
                seen.add(index)
        seen_of.append(seen)
        recent_of.append(recent)
        rows_of.append(rows)
    user_items = sp.csr_matrix(
        (np.asarray(weight, np.float32), (np.asarray(row_of, np.int64), column)),
        shape=(len(users), len(state.items)),
    )
    user_items.sum_duplicates()
    count = state.settings["candidate_count"]
    all_ids, all_scores = state.model.recommend(
        [state.users.get(user_id) for user_id, _, _ in users],
        user_items,
        n=count,
        exclude=[sorted(seen) for seen in seen_of],
        filter_seen=False,
    )
    found = []
    for (_, _, stamp), ids, scores, seen, recent, rows in zip(
        users, all_ids, all_scores, seen_of, recent_of, rows_of, strict=True
    ):
        keep = (ids >= 0) & (scores > 0)
        ids, scores = ids[keep], scores[keep]
        reasons = reasons_for(state, snapshot, ids, list(recent.items()))
        # No evidence for the rest: fill with popular items rather than arbitrary zero scores.
        room = count - len(ids)
        if room > 0:
            taken = np.fromiter(seen | set(ids.tolist()), np.int64)
            # Enough of the popular order to fill the room whatever ``taken`` removes from it.
            head = state.popular_order[: room + len(taken)]
            tail = head[~np.isin(head, taken)][:room]
            ids = np.r_[ids, tail].astype(np.int64)
            scores = np.r_[scores, np.zeros(len(tail), np.float32)]
            reasons += ["popular right now"] * len(tail)
        categories = sorted({snapshot.categories[r] for r in rows if r >= 0})
        found.append(
            {
                "stamp": stamp,
                "items": [
                    [str(item_id), score, reason]
                    for item_id, score, reason in zip(
                        state.items.ids[ids].tolist(), scores.tolist(), reasons, strict=True
                    )
                ],
                "categories": categories,
            }
        )
    return found


def reasons_for(state, snapshot, candidates, recent: list[tuple[int, str]]) -> list[str]:
    """ "because you <verb> <title>": the most recent history item closest in the category tree.

    Category closeness rather than the model's own item similarity keeps this cheap for every
    model family (an item-item slice of a 10k-item model costs more than the whole ranking).
    """
    if not len(candidates):
        return []
    history = [(index, kind) for index, kind in recent[:50] if state.catalog_rows[index] >= 0]
    if not history:
        return ["recommended for you"] * len(candidates)
    history_rows = state.catalog_rows[[index for index, _ in history]]
    candidate_rows = state.catalog_rows[np.asarray(candidates, dtype=np.int64)]
    closeness = snapshot.category_closeness(history_rows, np.maximum(candidate_rows, 0))
    closeness[:, candidate_rows < 0] = 0.0
    best = closeness.argmax(axis=0)  # the first maximum: history is newest first
    reasons = []
    for column, source in enumerate(best.tolist()):
        if closeness[source, column] <= 0:
            reasons.append("recommended for you")
            continue
        index, kind = history[source]
        title = snapshot.titles[state.catalog_rows[index]] or state.items.ids[index]
        reasons.append(f"because you {VERBS.get(kind, 'liked')} {title}")
    return reasons
