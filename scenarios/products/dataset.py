"""The products training set, built from the database: a users x items weight matrix and segments.

Weights come from the scenario's ``event_weights`` (falling back to each EventType's weight);
events of negative types are left out of the positive matrix. Segments are "field:value" keys
from user attributes (age band, gender, location, listed segments) for cold-start popularity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from catalog.models import EventType, Interaction, Item, User
from ml.data import IdMap

SEGMENT_FIELDS = ("age_band", "gender", "location")


def event_weights(settings: dict[str, Any]) -> dict[str, float]:
    """Weight per positive event type; the scenario's overrides win over the catalog's."""
    weights = {e.name: e.weight for e in EventType.objects.all() if e.is_positive}
    negative = set(EventType.objects.filter(is_positive=False).values_list("name", flat=True))
    for name, weight in (settings.get("event_weights") or {}).items():
        weights[name] = float(weight)
        negative.discard(name)
    return {name: w for name, w in weights.items() if name not in negative and w > 0}


def user_segments(age_band: str, gender: str, location: str, segments) -> list[str]:
    keys = [
        f"{field}:{value}"
        for field, value in zip(SEGMENT_FIELDS, (age_band, gender, location), strict=True)
        if value
    ]
    return keys + [f"segment:{s}" for s in segments or [] if s]


@dataclass
class ProductsDataset:
    matrix: sp.csr_matrix  # users x items, summed event weights
    times: sp.csr_matrix  # same pairs: minutes from the first event to the pair's latest, + 1
    users: IdMap  # external user ids
    items: IdMap  # external item ids
    user_pks: np.ndarray
    item_pks: np.ndarray
    segment_names: np.ndarray
    memberships: np.ndarray  # users x segments, 0/1
    n_events: int
    time_from: float | None
    time_to: float | None

    def snapshot(self) -> dict[str, Any]:
        return {
            "users": len(self.users),
            "items": len(self.items),
            "events": self.n_events,
            "time_from": self.time_from,
            "time_to": self.time_to,
        }


def build_dataset(settings: dict[str, Any], item_kinds: tuple[str, ...]) -> ProductsDataset:
    """The weighted user x item matrix of events on items of ``item_kinds``."""
    weights = event_weights(settings)
    rows = Interaction.objects.filter(
        event_type__in=list(weights), item__kind__in=item_kinds
    ).values_list("user_id", "item_id", "event_type", "timestamp")
    user_pk, item_pk, kinds, stamps = [], [], [], []
    for user, item, kind, stamp in rows.iterator(chunk_size=20000):
        user_pk.append(user)
        item_pk.append(item)
        kinds.append(kind)
        stamps.append(stamp.timestamp())
    if not user_pk:
        raise ValueError(
            f"no interactions of the weighted event types {sorted(weights)} on items of kind "
            f"{', '.join(item_kinds)}; import or post events first"
        )
    user_pk_arr, item_pk_arr = np.asarray(user_pk, np.int64), np.asarray(item_pk, np.int64)
    unique_users, user_index = np.unique(user_pk_arr, return_inverse=True)
    unique_items, item_index = np.unique(item_pk_arr, return_inverse=True)
    weight_of = np.array([weights[k] for k in kinds], dtype=np.float32)
    matrix = sp.csr_matrix(
        (weight_of, (user_index, item_index)),
        shape=(len(unique_users), len(unique_items)),
        dtype=np.float32,
    )
    matrix.sum_duplicates()
    minutes = (np.asarray(stamps) - min(stamps)) / 60.0 + 1.0
    pairs = user_index * len(unique_items) + item_index
    order = np.lexsort((minutes, pairs))
    latest = order[np.r_[pairs[order][1:] != pairs[order][:-1], True]]
    times = sp.csr_matrix(
        (minutes[latest].astype(np.float32), (user_index[latest], item_index[latest])),
        shape=matrix.shape,
    )

    user_rows = dict(
        (pk, (external, age, gender, location, segments))
        for pk, external, age, gender, location, segments in User.objects.filter(
            pk__in=unique_users.tolist()
        ).values_list("pk", "external_id", "age_band", "gender", "location", "segments")
    )
    item_external = dict(
        Item.objects.filter(pk__in=unique_items.tolist()).values_list("pk", "external_id")
    )
    per_user = [user_segments(*user_rows[pk][1:]) for pk in unique_users.tolist()]
    names = sorted({key for keys in per_user for key in keys})
    column = {name: i for i, name in enumerate(names)}
    memberships = np.zeros((len(unique_users), len(names)), np.float32)
    for row, keys in enumerate(per_user):
        memberships[row, [column[k] for k in keys]] = 1.0
    return ProductsDataset(
        matrix=matrix,
        times=times,
        users=IdMap([user_rows[pk][0] for pk in unique_users.tolist()]),
        items=IdMap([item_external[pk] for pk in unique_items.tolist()]),
        user_pks=unique_users,
        item_pks=unique_items,
        segment_names=np.array(names, dtype=str),
        memberships=memberships,
        n_events=len(user_pk),
        time_from=float(min(stamps)),
        time_to=float(max(stamps)),
    )
