"""The content training set, read from the database: article texts and the readers x articles
matrix of reads, each read weighted by its event type and dwell time, split in time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from catalog.models import Interaction, Item
from scenarios.content.articles import ARTICLE, article_text, published_at


def read_weight(event_type: str, dwell, settings: dict[str, Any]) -> float:
    """The event type's weight times the dwell factor (dwell / reference, within [0.25, 3];
    1 without a dwell time); 0 for a bounce shorter than ``min_dwell_seconds``."""
    weight = float(settings["read_events"].get(event_type, 0.0))
    if dwell is None or event_type != "read":
        return weight
    if dwell < settings["min_dwell_seconds"]:
        return 0.0
    return weight * float(np.clip(dwell / settings["dwell_reference_seconds"], 0.25, 3.0))


@dataclass
class ContentDataset:
    ids: np.ndarray  # article external ids (articles with text)
    texts: list[str]
    published: np.ndarray  # unix seconds
    users: np.ndarray  # reader index per read
    items: np.ndarray  # article index per read
    weights: np.ndarray
    times: np.ndarray  # unix seconds per read
    n_users: int

    def matrix(self, keep: np.ndarray | None = None) -> sp.csr_matrix:
        """Readers x articles, summed weights of the reads in ``keep`` (all by default)."""
        keep = np.ones(len(self.users), bool) if keep is None else keep
        matrix = sp.csr_matrix(
            (self.weights[keep], (self.users[keep], self.items[keep])),
            shape=(self.n_users, len(self.ids)),
            dtype=np.float32,
        )
        matrix.sum_duplicates()
        return matrix

    def snapshot(self) -> dict[str, Any]:
        return {
            "articles": len(self.ids),
            "readers": self.n_users,
            "reads": len(self.users),
            "time_from": float(self.times.min()),
            "time_to": float(self.times.max()),
        }


def build_dataset(settings: dict[str, Any]) -> ContentDataset:
    articles = list(
        Item.objects.filter(kind=ARTICLE)
        .exclude(description="")
        .order_by("pk")
        .values_list(
            "pk",
            "external_id",
            "title",
            "description",
            "category",
            "tags",
            "attributes",
            "available_from",
            "created_at",
        )
    )
    if not articles:
        raise ValueError("no articles with text; upsert items of kind 'article' first")
    column = {row[0]: i for i, row in enumerate(articles)}
    events = (
        Interaction.objects.filter(item__kind=ARTICLE, event_type__in=list(settings["read_events"]))
        .order_by("pk")  # one order on every database: training samples in it
        .values_list("user_id", "item_id", "event_type", "value", "timestamp")
    )
    users, items, weights, times = [], [], [], []
    for user, item, event_type, value, stamp in events.iterator(chunk_size=20000):
        weight = read_weight(event_type, value, settings)
        if item in column and weight > 0:
            users.append(user)
            items.append(column[item])
            weights.append(weight)
            times.append(stamp.timestamp())
    if len(users) < 2:
        raise ValueError(
            f"fewer than two reads ({', '.join(sorted(settings['read_events']))} events) of "
            "articles with text; post read events first"
        )
    readers, user_index = np.unique(np.asarray(users, np.int64), return_inverse=True)
    return ContentDataset(
        ids=np.array([row[1] for row in articles], dtype=str),
        texts=[article_text(row[2], row[3], row[4], row[5]) for row in articles],
        published=np.array(
            [published_at(row[6] if isinstance(row[6], dict) else {}, *row[7:]) for row in articles]
        ),
        users=user_index.astype(np.int64),
        items=np.asarray(items, np.int64),
        weights=np.asarray(weights, np.float32),
        times=np.asarray(times, np.float64),
        n_users=len(readers),
    )
