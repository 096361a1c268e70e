"""``manage.py seed_demo`` hook: a follow graph on the demo shoppers, then a first model.

Who follows whom is drawn the way social graphs grow: most follows stay among people of the
same town, many among people who shop the same department (so "buys the same brands" means
something), a few go to a handful of popular accounts, and a round of triadic closure (following
someone a followee follows) makes the friends-of-friends signal real. A few people block someone
or opt out, so the filters have work to do.
"""

import numpy as np
from django.db.models import Count

from catalog.models import Interaction, User
from engine.models import ModelVersion
from engine.versions import request_training
from scenarios.social.models import Block, Follow, OptOut

FOLLOWS_PER_USER = 8  # on average, before triadic closure
SHARES = {"town": 0.55, "department": 0.3, "popular": 0.15}
CLOSURE = 0.3  # share of people who then follow a followee's followee


def pick_within(rng, groups: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """For each source, a random person of the same group (possibly themselves)."""
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    start = np.searchsorted(sorted_groups, groups[sources], side="left")
    stop = np.searchsorted(sorted_groups, groups[sources], side="right")
    return order[start + (rng.random(len(sources)) * (stop - start)).astype(np.int64)]


def draw_follows(rng, towns: np.ndarray, departments: np.ndarray, per_user: float) -> np.ndarray:
    """[m, 2] (follower, followee) indices into the people, no self-follows, no repeats."""
    n = len(towns)
    counts = rng.poisson(per_user, n)
    sources = np.repeat(np.arange(n), counts)
    kind = rng.choice(len(SHARES), len(sources), p=list(SHARES.values()))
    targets = np.empty(len(sources), dtype=np.int64)
    for code, groups in enumerate((towns, departments)):
        chosen = kind == code
        targets[chosen] = pick_within(rng, groups, sources[chosen])
    popular = kind == 2
    weights = 1.0 / np.arange(1, n + 1) ** 1.2
    celebrities = rng.permutation(n)
    targets[popular] = celebrities[rng.choice(n, popular.sum(), p=weights / weights.sum())]
    edges = np.unique(np.c_[sources, targets], axis=0)
    edges = edges[edges[:, 0] != edges[:, 1]]
    # Triadic closure: some people follow someone one of their followees follows.
    starts = np.searchsorted(edges[:, 0], np.arange(n + 1))
    outdegree = np.diff(starts)
    closers = np.flatnonzero((rng.random(n) < CLOSURE) & (outdegree > 0))
    via = edges[starts[closers] + (rng.random(len(closers)) * outdegree[closers]).astype(int), 1]
    reachable = outdegree[via] > 0
    closers, via = closers[reachable], via[reachable]
    second = edges[starts[via] + (rng.random(len(via)) * outdegree[via]).astype(int), 1]
    edges = np.unique(np.r_[edges, np.c_[closers, second]], axis=0)
    return edges[edges[:, 0] != edges[:, 1]]


def seed(*, rng, stdout, scale):
    if Follow.objects.exists():
        stdout.write("social: follows exist already; no demo graph added")
        return
    people = list(User.objects.order_by("pk").values_list("pk", "location"))
    if len(people) < 3:
        stdout.write("social: fewer than 3 users; no demo graph added")
        return
    pks = np.array([pk for pk, _ in people], dtype=np.int64)
    _, towns = np.unique([location for _, location in people], return_inverse=True)
    favourite = {}
    for user_pk, category, _ in (
        Interaction.objects.values_list("user_id", "item__category")
        .annotate(events=Count("pk"))
        .order_by("user_id", "-events")
    ):
        favourite.setdefault(user_pk, (category or "").split("/")[0])
    _, departments = np.unique([favourite.get(pk, "") for pk in pks.tolist()], return_inverse=True)
    edges = draw_follows(rng, towns, departments, FOLLOWS_PER_USER)
    n = len(pks)
    blockers = rng.choice(n, max(1, n // 100), replace=False)
    blocked = (blockers + 1 + rng.integers(n - 1, size=len(blockers))) % n
    across = np.r_[blockers * n + blocked, blocked * n + blockers]
    edges = edges[~np.isin(edges[:, 0] * n + edges[:, 1], across)]  # no follow across a block
    Follow.objects.bulk_create(
        Follow(follower_id=pks[a], followee_id=pks[b]) for a, b in edges.tolist()
    )
    Block.objects.bulk_create(
        Block(blocker_id=pks[a], blocked_id=pks[b]) for a, b in zip(blockers, blocked, strict=True)
    )
    opted = rng.choice(n, max(1, n // 200), replace=False)
    OptOut.objects.bulk_create(OptOut(user_id=pk) for pk in pks[opted].tolist())
    stdout.write(
        f"social: {len(edges)} follows among {n} people "
        f"({len(blockers)} blocks, {len(opted)} opted out)"
    )
    if ModelVersion.objects.filter(scenario="social").exists():
        return
    version = request_training("social", triggered_by="seed_demo")
    stdout.write(f"social: training queued as version {version.pk}")
