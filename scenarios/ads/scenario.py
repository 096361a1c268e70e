"""CTR-ranked ads: eligible ads of a slot ranked by pCTR x bid, priced by generalized second
price (never above the bid, never below the slot's reserve).

Serving reads the user with their history and the campaigns they saw up to the frequency cap
today in one query, then the process's in-memory inventory (:mod:`scenarios.ads.inventory`):
targeting, dates, reserve and the capped campaigns are masks over every live ad; a pre-ranking
score (bid x the version's pCTR for the slot, with no user or context) keeps the best
``prerank_candidates`` of them, which the model scores with the user's history and the
request's context (:mod:`scenarios.ads.scoring`); then the database is asked only about the
campaigns about to be shown (status, budgets, pacing).
Pacing (:mod:`scenarios.ads.pacing`) spreads a daily budget evenly over the day. A new ad, one
the served model never saw, gets one placement of an answer with probability
``exploration_share`` so it can collect clicks (charged the slot's reserve).
"""

from __future__ import annotations

import threading
from decimal import Decimal

import numpy as np
from django.db.models import CharField, Count, Q, Sum, Value

from engine.pipeline import Slate
from engine.scenario import AdPlacement, InvalidRequest, Kind, Scenario, TrainingOutcome
from engine.search import search_model
from ml.base import Model
from ml.models.ctr import DeepFM, LogisticCTR

from . import pacing
from .history import HISTORY_COLUMNS, department, point_in_time, write_totals
from .inventory import AdBook, books
from .models import Campaign, Click, Impression
from .queries import campaign_states, generation_and_viewer, log_impressions
from .scoring import Scorer

FAMILIES = {"logistic": LogisticCTR, "deepfm": DeepFM}
# The model's categorical fields, in column order ("ad" first: its vocabulary is what the
# model has seen of each ad).
CATEGORICAL = ("ad", "campaign", "slot", "device", "hour", "category", "age_band", "location")
NUMERIC = HISTORY_COLUMNS


def categorical_columns(ad_ids, campaigns, categories, slot, device, hour, age_band, location):
    """The categorical matrix [n, 8]; per-request values (slot, device...) may be scalars."""
    n = len(ad_ids)

    def column(value):
        return np.asarray(value, dtype=str) if np.ndim(value) else np.full(n, str(value))

    return np.column_stack(
        [column(v) for v in (ad_ids, campaigns, slot, device, hour, categories, age_band, location)]
    ).astype(str)


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
            "pacing_slack": {
                "type": "number",
                "minimum": 0,
                "maximum": 1,
                "description": "share of a daily budget a campaign may spend ahead of even pacing",
            },
            "exploration_share": {
                "type": "number",
                "minimum": 0,
                "maximum": 1,
                "description": "share of answers in which one placement goes to a new ad",
            },
            "prerank_candidates": {"type": "integer", "minimum": 1},
        },
    }
    default_settings = {
        "model": "deepfm",
        "prior_ctr": 0.02,
        "frequency_cap": 10,
        "pacing_slack": 0.0,
        "exploration_share": 0.05,
        "prerank_candidates": 200,
    }
    request_time_settings = frozenset(
        {"prior_ctr", "frequency_cap", "pacing_slack", "exploration_share", "prerank_candidates"}
    )
    # What resolve() found, for record_exposure() of the same request (same thread).
    _requests = threading.local()

    def __init__(self):
        self.rng = np.random.default_rng()

    # ---- training -------------------------------------------------------------------------
    def build_dataset(self, settings):
        """Features and labels of every impression, oldest first, and each user's totals."""
        log = list(
            Impression.objects.order_by("timestamp", "pk").values_list(
                "user_id",
                "timestamp",
                "recommendation_id",
                "ad_id",
                "ad__ad_id",
                "ad__campaign_id",
                "slot__name",
                "device",
                "hour",
                "ad__item__category",
                "user__age_band",
                "user__location",
            )
        )
        clicked = set(Click.objects.values_list("recommendation_id", "ad_id"))
        y = np.array([(row[2], row[3]) in clicked for row in log], dtype=np.float64)
        if len(log) < 4 or y.min() == y.max():
            raise ValueError(f"{len(log)} impressions: too few, or no clicks, to train")
        columns = list(zip(*log, strict=True))
        numeric, totals = point_in_time(
            list(columns[0]),
            [when.timestamp() for when in columns[1]],
            [department(c) for c in columns[9]],
        )
        categorical = categorical_columns(
            columns[4],
            columns[5],
            columns[9],
            columns[6],
            columns[7],
            columns[8],
            [v or "" for v in columns[10]],
            [v or "" for v in columns[11]],
        )
        return numeric, categorical, y, totals

    def train(self, version, artifact_dir, progress):
        """Search the CTR families on the newest fifth of the log (fit on the older part, score
        AUC), score the winner there, then refit it on every impression."""
        settings = self.effective_settings(version.settings)
        numeric, categorical, y, totals = self.build_dataset(settings)
        write_totals(totals)  # the serving side of the same history features
        cut = max(2, len(y) * 4 // 5)
        held = (numeric[cut:], categorical[cut:], y[cut:])
        fit_y = y[:cut] if y[:cut].min() != y[:cut].max() else y
        fit_rows = slice(0, cut) if fit_y is not y else slice(None)

        def fitted(name, params):
            return FAMILIES[name](**params).fit(numeric[fit_rows], categorical[fit_rows], fit_y)

        def objective(name, params):
            return auc(held[2], fitted(name, params).predict_proba(*held[:2]))

        # A search needs a held-out part apart from the fit part, with clicks and non-clicks.
        separate = fit_y is not y and 0 < held[2].sum() < len(held[2])
        name, params, record = search_model(
            self.slug,
            {**settings, "model_search": settings["model_search"] and separate},
            {family: cls.search_space() for family, cls in FAMILIES.items()},
            objective,
            metric=self.primary_metric,
            progress=lambda share, message: progress(0.05 + 0.55 * share, message),
        )
        progress(0.6, f"fitting {name} on {cut} impressions")
        checked = fitted(name, params)
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
        progress(0.8, f"refitting {name} on every impression")
        FAMILIES[name](**params).fit(numeric, categorical, y).save(f"{artifact_dir}/model")
        return TrainingOutcome(
            metrics=metrics,
            history=checked.history.to_dict(),
            data_snapshot={"impressions": len(y), "clicks": int(y.sum()), "users": len(totals)},
            search=record,
            algorithm=name,
            hyperparameters=params,
        )

    def load_state(self, version):
        return Model.load(f"{version.artifact_path}/model")

    # ---- serving --------------------------------------------------------------------------
    def resolve(self, request, context):
        from catalog.models import Item

        now = pacing.now()
        generation, user = generation_and_viewer(
            request.user_id or None, pacing.day_start(now), context.settings["frequency_cap"]
        )
        book = books.get(generation)
        slot = book.slots.get(request.slot)
        if slot is None:
            raise InvalidRequest(f"no slot {request.slot!r}")
        if request.n > slot.positions:
            raise InvalidRequest(
                f"slot {slot.name!r} has {slot.positions} positions; n={request.n}"
            )
        page_item = request.context.get("item_id")
        page = Item.objects.filter(external_id=page_item).first() if page_item else None
        context.notes.update(
            book=book,
            slot=slot,
            user=user,
            page_category=page.category if page else "",
            now=now,
        )
        self._requests.current = (request, context.notes)

    def candidates(self, request, context):
        notes, settings = context.notes, context.settings
        book: AdBook = notes["book"]
        user, slot, now = notes["user"], notes["slot"], notes["now"]
        page, moment = notes["page_category"], now.timestamp()
        order = book.derived(
            ("prerank order", context.version_id, slot.name),
            lambda: np.argsort(-self._prerank(book, slot, context), kind="stable"),
        )
        # The best eligible ads by pre-ranking score: most requests find them among the
        # first few times as many ads of the order, so the masks cover only those.
        limit = settings["prerank_candidates"]
        head = order[: 4 * limit]
        rows = head[book.eligible(user, page, slot.reserve, moment, head)][:limit]
        if len(rows) < limit and len(head) < len(order):
            rows = order[book.eligible(user, page, slot.reserve, moment, order)][:limit]
        explore = None
        if self.rng.random() < settings["exploration_share"]:
            known = book.derived(("known", context.version_id), lambda: self._known(book, context))
            everyone = np.arange(len(book))
            eligible = book.eligible(user, page, slot.reserve, moment, everyone)
            new = np.flatnonzero(eligible & ~known)
            if len(new):
                explore = int(self.rng.choice(new))
                if explore not in rows:
                    rows = np.append(rows, explore)
        pctr = np.zeros(len(book))
        if context.state is None:
            context.fallback = True
            pctr[rows] = float(settings["prior_ctr"])
        elif len(rows):
            scorer = book.derived(
                ("scorer", context.version_id), lambda: Scorer.build(context.state, book)
            )
            found = scorer.context_codes(
                slot.name,
                request.context.get("device", ""),
                request.context.get("hour"),
                user.age_band if user else "",
                user.location if user else "",
            )
            numeric = scorer.department_numeric(user.history if user is not None else None)
            pctr[rows] = scorer.pctr(rows, found, numeric)
        value = pctr[rows] * book.bids[rows]
        order = np.argsort(-value, kind="stable")
        notes.update(pctr=pctr, explore=explore)
        return Slate(rows[order], value[order], ["expected value"] * len(order))

    def _prerank(self, book: AdBook, slot, context) -> np.ndarray:
        """bid x the version's pCTR of each ad in this slot for an unknown user and context."""
        if context.state is None or not len(book):
            return book.bids.copy()
        categorical = categorical_columns(
            book.ad_ids, book.campaigns, book.categories, slot.name, "", None, "", ""
        )
        numeric = np.zeros((len(book), len(NUMERIC)))
        return context.state.predict_proba(numeric, categorical) * book.bids

    @staticmethod
    def _known(book: AdBook, context) -> np.ndarray:
        """Ads the served model has seen (its vocabulary of the "ad" field)."""
        if context.state is None:
            return np.zeros(len(book), dtype=bool)
        return np.isin(book.ad_ids, context.state.vocabulary[CATEGORICAL.index("ad")])

    def allowed(self, request, context, slate):
        """The best ad of each campaign that is live and within budget and pacing, asked of
        the database a few campaigns at a time, until the
        auction has its winners and the runner-up (and the exploration pick, if any)."""
        book, explore = context.notes["book"], context.notes["explore"]
        campaigns = book.campaigns[slate.rows].tolist()
        rows = slate.rows.tolist()
        batch_size = max(8, 2 * (request.n + 1))
        ok: dict[int, bool] = {}
        keep = np.zeros(len(slate), dtype=bool)
        taken: set[int] = set()
        wanted, j = request.n + 1, 0
        # The exploration pick's campaign is asked with the first batch.
        batch = {int(book.campaigns[explore]): None} if explore is not None else {}
        while j < len(rows) and len(taken) < wanted:
            for k in range(j, len(rows)):
                if len(batch) >= batch_size:
                    break
                if campaigns[k] not in ok:
                    batch[campaigns[k]] = None
            if batch:
                ok.update(self._live(context, list(batch)))
                batch = {}
            while j < len(rows) and campaigns[j] in ok and len(taken) < wanted:
                if ok[campaigns[j]] and campaigns[j] not in taken:
                    keep[j] = True
                    taken.add(campaigns[j])
                j += 1
        if explore is not None and ok[int(book.campaigns[explore])]:
            keep[rows.index(explore)] = True
        return keep

    def _live(self, context, campaign_pks: list[int]) -> dict[int, bool]:
        """Which of these campaigns may be shown now (one query: status, dates, budgets and
        today's spend); the blocked ones are remembered by the inventory until their pacing
        line passes their spend. The frequency cap was applied with the user's read."""
        notes, settings = context.notes, context.settings
        book, now = notes["book"], notes["now"]
        moment, day = now.timestamp(), pacing.day_start(now)
        live = dict.fromkeys(campaign_pks, False)
        slack = settings["pacing_slack"]
        for pk, open_, daily, today in campaign_states(campaign_pks, now, day):
            if not open_:
                book.block(pk, moment, float("inf"))
            elif today >= pacing.allowance(daily, now, slack):
                book.block(pk, moment, pacing.paced_until(today, daily, now, slack))
            else:
                live[pk] = True
        return live

    def rerank(self, request, context, slate):
        """Generalized second price: each winner pays what keeps its place; an exploration
        pick takes the last place at the reserve."""
        notes = context.notes
        book, pctr, explore = notes["book"], notes["pctr"], notes["explore"]
        reserve = notes["slot"].reserve
        rows, values = slate.rows.tolist(), slate.scores.tolist()
        ranked = [(r, v) for r, v in zip(rows, values, strict=True) if r != explore]
        bids = book.bids
        prices = {
            row: min(bids[row], max(reserve, runner_up / max(pctr[row], 1e-9)))
            for (row, _), runner_up in zip(ranked, [v for _, v in ranked[1:]] + [0.0], strict=False)
        }
        winners = [row for row, _ in ranked][: request.n]
        if explore in rows and explore not in winners[: request.n - 1]:
            winners = [*winners[: request.n - 1], explore]
            prices[explore] = reserve
        notes["prices"] = prices
        scores = [float(pctr[row] * bids[row]) for row in winners]
        return Slate(
            np.array(winners, dtype=np.int64), np.array(scores), ["expected value"] * len(winners)
        )

    def explain(self, request, context, slate):
        book, pctr, prices = (context.notes[k] for k in ("book", "pctr", "prices"))
        return [
            AdPlacement(
                str(book.ad_ids[row]),
                str(book.campaigns[row]),
                str(book.item_ids[row]),
                float(pctr[row]),
                round(float(prices[row]), 4),
            )
            for row in slate.rows.tolist()
        ]

    def record_exposure(self, request, answer, recommendation_id):
        """One row per placement (what a click must quote), and the user's impression count."""
        found = getattr(self._requests, "current", None)
        if found is None or found[0] is not request or not answer.items:
            return
        notes = found[1]
        book, slot, user, now = notes["book"], notes["slot"], notes["user"], notes["now"]
        log_impressions(
            user.pk if user is not None else None,
            slot.pk,
            recommendation_id,
            [(int(book.ad_pks[book.row_of[a.ad_id]]), Decimal(str(a.price))) for a in answer.items],
            request.context.get("device", ""),
            request.context.get("hour"),
            now,
        )
        self._requests.current = None

    def dashboard_figures(self):
        """Spend against budgets, today (of the campaigns live now) and in all, in one query."""
        now = pacing.now()
        live = Q(status=Campaign.Status.ACTIVE, start__lte=now, end__gt=now)
        found = Campaign.objects.aggregate(
            campaigns=Count("pk"),
            live=Count("pk", filter=live),
            today=Sum("spent_today", filter=Q(spend_day=now.date())),
            daily=Sum("daily_budget", filter=live),
            spent=Sum("spent_total"),
            total=Sum("total_budget"),
        )
        if not found["campaigns"]:
            return []
        money = {key: found[key] or Decimal(0) for key in ("today", "daily", "spent", "total")}
        return [
            (
                "spend today / daily budgets",
                f"{money['today']:.2f} of {money['daily']:.2f} over {found['live']} live campaigns",
            ),
            (
                "spend in all / total budgets",
                f"{money['spent']:.2f} of {money['total']:.2f} over {found['campaigns']} campaigns",
            ),
        ]

    def feedback_events(self):
        return Click.objects.annotate(event_type=Value("ad_click", output_field=CharField()))
