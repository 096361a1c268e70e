"""CTR-ranked ads: eligible ads of a slot ranked by pCTR x bid, priced by generalized second
price (never above the bid, never below the slot's reserve).

Pacing: a campaign is served while its spend today is under its daily budget times the
elapsed fraction of the day plus ``pacing_slack``, so a daily budget spreads over the day.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import numpy as np
from django.db.models import CharField, Count, Sum, Value
from django.utils import timezone

from engine.pipeline import Slate
from engine.scenario import AdPlacement, InvalidRequest, Kind, Scenario, TrainingOutcome
from ml.base import Model
from ml.models.ctr import DeepFM, LogisticCTR

from .models import Ad, Campaign, Click, Impression, Slot

FAMILIES = {"logistic": LogisticCTR, "deepfm": DeepFM}


def ad_features(rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Numeric (user history size) and categorical features of (user, ad, context) rows."""
    numeric = np.array([[row["history"]] for row in rows], dtype=np.float64)
    keys = ("ad", "campaign", "slot", "device", "hour", "category", "age_band", "location")
    categorical = np.array([[str(row[key]) for key in keys] for row in rows], dtype=str)
    return numeric, categorical


def auc(y: np.ndarray, p: np.ndarray) -> float:
    from scipy.stats import rankdata

    positives = y == 1
    n_pos, n_neg = positives.sum(), (~positives).sum()
    if not n_pos or not n_neg:
        return 0.5
    ranks = rankdata(p)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def calibration(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Predicted vs observed CTR per decile of prediction, and the expected calibration error."""
    order = np.argsort(p, kind="stable")
    metrics, ece = {}, 0.0
    for decile, part in enumerate(np.array_split(order, 10)):
        if not len(part):
            continue
        predicted, observed = float(p[part].mean()), float(y[part].mean())
        metrics[f"decile{decile + 1}_predicted"] = predicted
        metrics[f"decile{decile + 1}_observed"] = observed
        ece += len(part) / len(p) * abs(predicted - observed)
    metrics["ece"] = ece
    return metrics


def impression_rows(impressions) -> list[dict]:
    return [
        {
            "ad": imp.ad.ad_id,
            "campaign": imp.ad.campaign_id,
            "slot": imp.slot.name,
            "device": imp.device,
            "hour": imp.hour,
            "category": imp.ad.item.category,
            "age_band": imp.user.age_band if imp.user else "",
            "location": imp.user.location if imp.user else "",
            "history": 0,
        }
        for imp in impressions
    ]


class AdsScenario(Scenario):
    slug = "ads"
    title = "Ads"
    kind = Kind.SLOT_ADS
    primary_metric = "auc"
    click_events = ("ad_click",)
    outcome_events = ()
    settings_schema = {
        "type": "object",
        "properties": {
            "model": {"type": "string", "enum": sorted(FAMILIES)},
            "prior_ctr": {"type": "number", "minimum": 0, "maximum": 1},
            "frequency_cap": {"type": "integer", "minimum": 1},
            "pacing_slack": {"type": "number", "minimum": 0, "maximum": 1},
        },
    }
    default_settings = {
        "model": "deepfm",
        "prior_ctr": 0.02,
        "frequency_cap": 10,
        "pacing_slack": 0.05,
    }
    request_time_settings = frozenset({"prior_ctr", "frequency_cap", "pacing_slack"})

    def build_dataset(self, settings):
        impressions = list(
            Impression.objects.select_related("ad__item", "slot", "user").order_by("timestamp")
        )
        clicked = set(Click.objects.values_list("recommendation_id", "ad_id"))
        y = np.array([(i.recommendation_id, i.ad_id) in clicked for i in impressions], float)
        if len(impressions) < 4 or y.min() == y.max():
            raise ValueError(f"{len(impressions)} impressions: too few, or no clicks, to train")
        return impression_rows(impressions), y

    def train(self, version, artifact_dir, progress):
        settings = self.effective_settings(version.settings)
        rows, y = self.build_dataset(settings)
        numeric, categorical = ad_features(rows)
        cut = max(2, len(y) * 4 // 5)
        family = FAMILIES[settings["model"]]
        progress(0.2, f"fitting {settings['model']} on {cut} impressions")
        held = (numeric[cut:], categorical[cut:], y[cut:])
        fit_y = y[:cut] if y[:cut].min() != y[:cut].max() else y
        fit_rows = slice(0, cut) if fit_y is not y else slice(None)
        checked = family().fit(numeric[fit_rows], categorical[fit_rows], fit_y)
        p = (
            checked.predict_proba(*held[:2])
            if len(held[2])
            else checked.predict_proba(numeric, categorical)
        )
        truth = held[2] if len(held[2]) else y
        clipped = np.clip(p, 1e-7, 1 - 1e-7)
        metrics = {
            "auc": auc(truth, p),
            "logloss": float(-np.mean(truth * np.log(clipped) + (1 - truth) * np.log(1 - clipped))),
            **calibration(truth, p),
        }
        progress(0.7, "refitting on every impression")
        family().fit(numeric, categorical, y).save(f"{artifact_dir}/model")
        return TrainingOutcome(
            metrics=metrics,
            history=checked.history.to_dict(),
            data_snapshot={"impressions": len(y), "clicks": int(y.sum())},
        )

    def load_state(self, version):
        return Model.load(f"{version.artifact_path}/model")

    def resolve(self, request, context):
        slot = Slot.objects.filter(name=request.slot).first()
        if slot is None:
            raise InvalidRequest(f"no slot {request.slot!r}")
        if request.n > slot.positions:
            raise InvalidRequest(
                f"slot {slot.name!r} has {slot.positions} positions; n={request.n}"
            )
        from catalog.models import Item, User

        user = User.objects.filter(external_id=request.user_id).first() if request.user_id else None
        page_item = request.context.get("item_id")
        page = Item.objects.filter(external_id=page_item).first() if page_item else None
        context.notes.update(slot=slot, user=user, page_category=page.category if page else "")

    def candidates(self, request, context):
        now = timezone.now()
        user, slot = context.notes["user"], context.notes["slot"]
        ads = list(
            Ad.objects.select_related("campaign", "item")
            .filter(
                campaign__status=Campaign.Status.ACTIVE,
                campaign__start__lte=now,
                campaign__end__gt=now,
            )
            .order_by("ad_id")
        )
        ads = [ad for ad in ads if self._targets(ad.campaign, user, context)]
        rows = [
            {
                "ad": ad.ad_id,
                "campaign": ad.campaign_id,
                "slot": slot.name,
                "device": request.context.get("device", ""),
                "hour": request.context.get("hour"),
                "category": ad.item.category,
                "age_band": user.age_band if user else "",
                "location": user.location if user else "",
                "history": 0,
            }
            for ad in ads
        ]
        if context.state is None:
            context.fallback = True
            pctr = np.full(len(ads), float(context.settings["prior_ctr"]))
        elif ads:
            pctr = context.state.predict_proba(*ad_features(rows))
        else:
            pctr = np.zeros(0)
        bids = np.array([float(ad.campaign.bid_per_click) for ad in ads])
        value = pctr * bids
        order = np.argsort(-value, kind="stable")
        context.notes.update(ads=ads, pctr=pctr, bids=bids)
        return Slate(order, value[order], ["expected value"] * len(order))

    @staticmethod
    def _targets(campaign, user, context) -> bool:
        if campaign.target_segments and not (
            user and set(user.segments) & set(campaign.target_segments)
        ):
            return False
        if campaign.target_locations and not (user and user.location in campaign.target_locations):
            return False
        category = context.notes["page_category"]
        return not campaign.target_categories or any(
            category.startswith(prefix) for prefix in campaign.target_categories
        )

    def allowed(self, request, context, slate):
        """Budget left, paced spend today, and the user's frequency cap per campaign."""
        ads = context.notes["ads"]
        now = timezone.now()
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        elapsed = (now - day) / timedelta(days=1)
        spent_today = dict(
            Click.objects.filter(timestamp__gte=day)
            .values_list("ad__campaign")
            .annotate(Sum("price"))
        )
        seen = {}
        if context.notes["user"] is not None:
            seen = dict(
                Impression.objects.filter(user=context.notes["user"], timestamp__gte=day)
                .values_list("ad__campaign")
                .annotate(Count("id"))
            )
        cap, slack = context.settings["frequency_cap"], context.settings["pacing_slack"]
        keep = []
        for row in slate.rows.tolist():
            campaign = ads[row].campaign
            today = spent_today.get(campaign.pk) or Decimal(0)
            paced = float(campaign.daily_budget) * min(1.0, elapsed + slack)
            keep.append(
                campaign.spent_total < campaign.total_budget
                and float(today) < paced
                and seen.get(campaign.pk, 0) < cap
            )
        return np.array(keep, dtype=bool)

    def rerank(self, request, context, slate):
        """Generalized second price: each winner pays what keeps its place."""
        pctr, bids = context.notes["pctr"], context.notes["bids"]
        reserve = float(context.notes["slot"].reserve_price)
        rows, values = slate.rows.tolist(), slate.scores.tolist()
        keep = [row for row in rows if bids[row] >= reserve]
        values = [v for row, v in zip(rows, values, strict=True) if bids[row] >= reserve]
        context.notes["prices"] = {
            row: min(bids[row], max(reserve, runner_up / max(pctr[row], 1e-9)))
            for row, runner_up in zip(keep, [*values[1:], 0.0], strict=True)
        }
        return Slate(
            np.array(keep, dtype=np.int64), np.array(values), ["expected value"] * len(keep)
        ).head(request.n)

    def explain(self, request, context, slate):
        ads, pctr, prices = (context.notes[k] for k in ("ads", "pctr", "prices"))
        return [
            AdPlacement(
                ads[row].ad_id,
                str(ads[row].campaign_id),
                ads[row].item.external_id,
                float(pctr[row]),
                round(float(prices[row]), 4),
            )
            for row in slate.rows.tolist()
        ]

    def record_exposure(self, request, answer, recommendation_id):
        by_id = Ad.objects.in_bulk([a.ad_id for a in answer.items], field_name="ad_id")
        slot = Slot.objects.get(name=request.slot)
        from catalog.models import User

        user = User.objects.filter(external_id=request.user_id).first() if request.user_id else None
        Impression.objects.bulk_create(
            Impression(
                user=user,
                ad=by_id[a.ad_id],
                slot=slot,
                recommendation_id=recommendation_id,
                position=position,
                price=Decimal(str(a.price)),
                device=request.context.get("device", ""),
                hour=request.context.get("hour"),
            )
            for position, a in enumerate(answer.items, start=1)
        )

    def feedback_events(self):
        return Click.objects.annotate(event_type=Value("ad_click", output_field=CharField()))
