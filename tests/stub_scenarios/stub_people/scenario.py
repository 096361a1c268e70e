"""Common neighbours: a person scores how many people they and the user are both linked to
(following or followed by, either way)."""

from pathlib import Path

import numpy as np
from django.db.models import CharField, Count, Value

from engine.pipeline import Slate
from engine.scenario import Kind, Scenario, TrainingOutcome, UserSuggestion
from ml.artifacts import load_folder, save_folder

from .models import Follow


def common_neighbours(n_users: int, followers: np.ndarray, followees: np.ndarray) -> np.ndarray:
    """users x users: neighbours two users share in the undirected follow graph."""
    linked = np.zeros((n_users, n_users), dtype=np.float32)
    linked[followers, followees] = linked[followees, followers] = 1.0
    return linked @ linked


class StubPeopleScenario(Scenario):
    slug = "stub_people"
    title = "Stub people to follow"
    kind = Kind.USER_USERS
    primary_metric = "hit_rate@5"
    click_events = ()
    outcome_events = ("follow",)
    settings_schema = {
        "type": "object",
        "properties": {"min_common": {"type": "integer", "minimum": 1}},
    }
    default_settings = {"min_common": 1}

    def build_dataset(self, settings):
        edges = list(
            Follow.objects.order_by("timestamp", "pk").values_list(
                "follower__external_id", "followee__external_id"
            )
        )
        if len(edges) < 2:
            raise ValueError(f"{len(edges)} follows: too few to train on")
        user_ids = sorted({user for edge in edges for user in edge})
        row = {user: index for index, user in enumerate(user_ids)}
        pairs = np.array([(row[a], row[b]) for a, b in edges], dtype=np.int64)
        return user_ids, pairs

    def train(self, version, artifact_dir, progress):
        progress(0.1, "building the follow graph")
        user_ids, pairs = self.build_dataset(self.effective_settings(version.settings))
        # Held out: each user's latest follow, when they follow at least two people.
        latest = {int(a): index for index, (a, _) in enumerate(pairs)}
        held = [i for a, i in latest.items() if (pairs[:, 0] == a).sum() >= 2]
        kept = np.setdiff1d(np.arange(len(pairs)), held)
        shared = common_neighbours(len(user_ids), pairs[kept, 0], pairs[kept, 1])
        hits = 0
        for index in held:
            follower, followee = pairs[index]
            scores = shared[follower].copy()
            scores[follower] = -1
            scores[pairs[kept][pairs[kept, 0] == follower, 1]] = -1
            hits += followee in np.argsort(-scores, kind="stable")[:5]
        save_folder(
            Path(artifact_dir) / "model",
            {"follows": len(pairs)},
            {"user_ids": np.array(user_ids), "followers": pairs[:, 0], "followees": pairs[:, 1]},
        )
        return TrainingOutcome(
            metrics={"hit_rate@5": hits / len(held) if held else 0.0},
            history={},
            data_snapshot={"users": len(user_ids), "follows": len(pairs)},
        )

    def load_state(self, version):
        _, arrays = load_folder(Path(version.artifact_path) / "model")
        user_ids = arrays["user_ids"].tolist()
        shared = common_neighbours(len(user_ids), arrays["followers"], arrays["followees"])
        return {
            "user_ids": user_ids,
            "row": {u: i for i, u in enumerate(user_ids)},
            "shared": shared,
        }

    def candidates(self, request, context):
        state = context.state
        if state is not None and request.user_id in state["row"]:
            scores = state["shared"][state["row"][request.user_id]]
            rows = np.flatnonzero(scores >= context.settings["min_common"])
            rows = rows[np.argsort(-scores[rows], kind="stable")]
            context.notes["user_ids"] = state["user_ids"]
            return Slate(rows, scores[rows], ["people you both know"] * len(rows))
        # Untrained, or a user the model never saw: the most followed people.
        context.fallback = state is None
        context.cold_start = state is not None
        popular = list(
            Follow.objects.values_list("followee__external_id")
            .annotate(followers=Count("pk"))
            .order_by("-followers", "followee__external_id")[:100]
        )
        context.notes["user_ids"] = [user for user, _ in popular]
        counts = np.array([n for _, n in popular], dtype=np.float32)
        return Slate(np.arange(len(popular)), counts, ["followed by many"] * len(popular))

    def allowed(self, request, context, slate):
        """Never the user, nor someone they already follow."""
        follows = set(
            Follow.objects.filter(follower__external_id=request.user_id).values_list(
                "followee__external_id", flat=True
            )
        )
        shown = [context.notes["user_ids"][row] for row in slate.rows.tolist()]
        return np.array([u != request.user_id and u not in follows for u in shown], dtype=bool)

    def explain(self, request, context, slate):
        user_ids = context.notes["user_ids"]
        return [
            UserSuggestion(user_ids[row], score, reason)
            for row, score, reason in zip(
                slate.rows.tolist(), slate.scores.tolist(), slate.reasons, strict=True
            )
        ]

    def feedback_events(self):
        return Follow.objects.annotate(event_type=Value("follow", output_field=CharField()))
