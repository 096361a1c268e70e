"""Each offer's acceptance rate (redemptions over outcomes, Laplace-smoothed); an offer's
expected uplift is how far its rate is above the average offer's."""

from pathlib import Path

import numpy as np

from catalog.models import User
from engine.pipeline import Slate
from engine.scenario import Kind, OfferAnswer, Scenario, TrainingOutcome
from ml.artifacts import load_folder, save_folder

from .models import Offer, OfferOutcome

REDEMPTION = OfferOutcome.Event.REDEMPTION


def acceptance_rates(offers: list[Offer], outcomes: list[tuple[int, str]]) -> np.ndarray:
    """(redemptions + 1) / (outcomes + 2) of each offer, in the order of ``offers``."""
    index = {offer.pk: row for row, offer in enumerate(offers)}
    redeemed, seen = np.ones(len(offers)), np.full(len(offers), 2.0)
    for offer_pk, event_type in outcomes:
        seen[index[offer_pk]] += 1
        redeemed[index[offer_pk]] += event_type == REDEMPTION
    return redeemed / seen


class StubOffersScenario(Scenario):
    slug = "stub_offers"
    title = "Stub offers"
    kind = Kind.USER_OFFERS
    primary_metric = "accuracy"
    click_events = (OfferOutcome.Event.CLICK.value,)
    outcome_events = (REDEMPTION.value,)
    settings_schema = {
        "type": "object",
        "properties": {"redeem_threshold": {"type": "number", "minimum": 0, "maximum": 1}},
    }
    default_settings = {"redeem_threshold": 0.5}

    def build_dataset(self, settings):
        offers = list(Offer.objects.order_by("offer_id"))
        outcomes = list(
            OfferOutcome.objects.order_by("timestamp", "pk").values_list("offer_id", "event_type")
        )
        if not offers or len(outcomes) < 2:
            raise ValueError(f"{len(offers)} offers, {len(outcomes)} outcomes: too few to train on")
        return offers, outcomes

    def train(self, version, artifact_dir, progress):
        settings = self.effective_settings(version.settings)
        progress(0.1, "building the dataset")
        offers, outcomes = self.build_dataset(settings)
        cut = max(1, len(outcomes) * 3 // 4)
        rates = dict(
            zip(
                [o.pk for o in offers],
                acceptance_rates(offers, outcomes[:cut]).tolist(),
                strict=True,
            )
        )
        held_out = outcomes[cut:]
        threshold = settings["redeem_threshold"]
        right = sum((rates[pk] >= threshold) == (kind == REDEMPTION) for pk, kind in held_out)
        save_folder(
            Path(artifact_dir) / "model",
            {"outcomes": len(outcomes)},
            {
                "offer_ids": np.array([offer.offer_id for offer in offers]),
                "rates": acceptance_rates(offers, outcomes),
            },
        )
        return TrainingOutcome(
            metrics={"accuracy": right / len(held_out) if held_out else 0.0},
            history={},
            data_snapshot={"offers": len(offers), "outcomes": len(outcomes)},
        )

    def load_state(self, version):
        _, arrays = load_folder(Path(version.artifact_path) / "model")
        rates = arrays["rates"]
        uplift = rates - rates.mean()
        return dict(zip(arrays["offer_ids"].tolist(), uplift.tolist(), strict=True))

    def resolve(self, request, context):
        context.cold_start = not User.objects.filter(external_id=request.user_id).exists()

    def candidates(self, request, context):
        offers = list(Offer.objects.order_by("-discount", "offer_id"))
        context.notes["offers"] = offers
        if context.state is None:  # untrained: the biggest discounts first
            context.fallback = True
            return Slate(
                np.arange(len(offers)),
                np.zeros(len(offers)),
                ["untrained: biggest discount"] * len(offers),
            )
        uplift = np.array([context.state.get(offer.offer_id, 0.0) for offer in offers])
        order = np.argsort(-uplift, kind="stable")
        return Slate(order, uplift[order], ["redeemed more often than most"] * len(order))

    def allowed(self, request, context, slate):
        """Never an offer the user already redeemed."""
        redeemed = set(
            OfferOutcome.objects.filter(
                user__external_id=request.user_id, event_type=REDEMPTION
            ).values_list("offer_id", flat=True)
        )
        offers = context.notes["offers"]
        return np.array([offers[row].pk not in redeemed for row in slate.rows.tolist()], dtype=bool)

    def explain(self, request, context, slate):
        offers = context.notes["offers"]
        return [
            OfferAnswer(offers[row].offer_id, score, reason)
            for row, score, reason in zip(
                slate.rows.tolist(), slate.scores.tolist(), slate.reasons, strict=True
            )
        ]

    def feedback_events(self):
        return OfferOutcome.objects.all()
