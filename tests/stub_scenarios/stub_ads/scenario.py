"""Each ad's share of its slot's clicks (smoothed) stands in for a CTR; a slot's ads are
ranked by share x bid and priced as in a second-price auction."""

from pathlib import Path

import numpy as np
from django.db.models import CharField, Value

from engine.pipeline import Slate
from engine.scenario import AdPlacement, ItemNotFound, Kind, Scenario, TrainingOutcome
from ml.artifacts import load_folder, save_folder

from .models import Ad, AdClick

PRIOR_SHARE = 0.05  # an ad never seen in training


def click_shares(ads: list[Ad], clicked_ad_ids: list[int]) -> dict[str, float]:
    """Each ad's share of its slot's clicks, with one pseudo-click per ad."""
    counts = {ad.pk: 1 for ad in ads}
    for ad_id in clicked_ad_ids:
        counts[ad_id] += 1
    per_slot: dict[str, int] = {}
    for ad in ads:
        per_slot[ad.slot] = per_slot.get(ad.slot, 0) + counts[ad.pk]
    return {ad.ad_id: counts[ad.pk] / per_slot[ad.slot] for ad in ads}


class StubAdsScenario(Scenario):
    slug = "stub_ads"
    title = "Stub ads"
    kind = Kind.SLOT_ADS
    primary_metric = "top1_hit_rate"
    click_events = ("ad_click",)
    outcome_events = ()
    training_queue = "stub_ads"
    settings_schema = {
        "type": "object",
        "properties": {"reserve_price": {"type": "number", "minimum": 0}},
    }
    default_settings = {"reserve_price": 0.01}
    request_time_settings = frozenset({"reserve_price"})

    def build_dataset(self, settings):
        ads = list(Ad.objects.order_by("ad_id"))
        clicks = list(AdClick.objects.order_by("timestamp", "pk").values_list("ad_id", flat=True))
        if not ads or len(clicks) < 2:
            raise ValueError(f"{len(ads)} ads and {len(clicks)} clicks: too little to train on")
        return ads, clicks

    def train(self, version, artifact_dir, progress):
        progress(0.1, "building the dataset")
        ads, clicks = self.build_dataset(self.effective_settings(version.settings))
        cut = max(1, len(clicks) * 3 // 4)
        shares = click_shares(ads, clicks[:cut])
        best = {}  # slot -> the ad ranked first by share
        for ad in ads:
            if ad.slot not in best or shares[ad.ad_id] > shares[best[ad.slot].ad_id]:
                best[ad.slot] = ad
        by_pk = {ad.pk: ad for ad in ads}
        held_out = clicks[cut:]
        hits = sum(best[by_pk[pk].slot].pk == pk for pk in held_out)
        shares = click_shares(ads, clicks)  # the served model uses every click
        save_folder(
            Path(artifact_dir) / "model",
            {"clicks": len(clicks)},
            {"ad_ids": np.array(list(shares)), "shares": np.array(list(shares.values()))},
        )
        return TrainingOutcome(
            metrics={self.primary_metric: hits / len(held_out) if held_out else 0.0},
            history={},
            data_snapshot={"ads": len(ads), "clicks": len(clicks)},
        )

    def load_state(self, version):
        _, arrays = load_folder(Path(version.artifact_path) / "model")
        return dict(zip(arrays["ad_ids"].tolist(), arrays["shares"].tolist(), strict=True))

    def resolve(self, request, context):
        if not Ad.objects.filter(slot=request.slot).exists():
            raise ItemNotFound(f"no ads run in slot {request.slot!r}")

    def candidates(self, request, context):
        ads = list(Ad.objects.filter(slot=request.slot).order_by("ad_id"))
        if context.state is None:
            context.fallback = True  # untrained: every ad at the prior
        shares = context.state or {}
        pctr = np.array([shares.get(ad.ad_id, PRIOR_SHARE) for ad in ads])
        value = pctr * np.array([ad.bid for ad in ads])
        order = np.argsort(-value, kind="stable")
        context.notes.update(ads=ads, pctr=pctr)
        return Slate(order, value[order], ["expected value"] * len(order))

    def rerank(self, request, context, slate):
        """Second price: each winner pays what keeps its place (at least the reserve, at most
        its bid); then the first n."""
        ads, pctr = context.notes["ads"], context.notes["pctr"]
        reserve = float(context.settings["reserve_price"])
        rows, values = slate.rows.tolist(), slate.scores.tolist()
        context.notes["prices"] = {
            row: min(ads[row].bid, max(reserve, runner_up / pctr[row]))
            for row, runner_up in zip(rows, [*values[1:], 0.0], strict=True)
        }
        return slate.head(request.n)

    def explain(self, request, context, slate):
        ads, pctr, prices = (context.notes[key] for key in ("ads", "pctr", "prices"))
        return [
            AdPlacement(
                ads[row].ad_id, ads[row].campaign_id, ads[row].item_id, pctr[row], prices[row]
            )
            for row in slate.rows.tolist()
        ]

    def feedback_events(self):
        return AdClick.objects.annotate(event_type=Value("ad_click", output_field=CharField()))
