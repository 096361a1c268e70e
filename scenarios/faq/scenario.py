"""Customer-service FAQ: a shopper's question -> FAQ entries, or a hand-off to a person.

One matcher (:mod:`ml.models.faq_matching`: BM25, a TF dual encoder or their hybrid) is fitted
on every active entry's question and paraphrases in both languages; with ``model_search`` on,
training first searches the three and their hyperparameters by accuracy@1 on the held-out
paraphrases (:func:`engine.search.search_model`) and refits the winner; a query is answered from
the entries of its language (given, or read from its script). The answers' scores are the
softmax probabilities over those entries: under ``handoff_below`` the best one is not sure
enough and the answer says ``handoff`` (still listing its best guesses). Among answers within
``purchase_margin`` of the best, those linked to items the shopper bought lately come first.
"""

from __future__ import annotations

import json
import unicodedata
import zlib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
from django.db import connections, router, transaction
from django.db.models import Case, CharField, F, Value, When
from django.utils import timezone

from engine.pipeline import Slate
from engine.scenario import InvalidRequest, Kind, QueryAnswer, Scenario, TrainingOutcome
from engine.search import search_model
from ml.base import Model
from ml.models.faq_matching import FAMILIES, Bm25sMatcher
from ml.models.text_matching import handoff_threshold
from ml.text_tokenize import CHINESE_MODES, script_of

from .models import FaqEntry, Language, QueryLog

SLUG = "faq"
LANGUAGES = tuple(Language.values)
CANDIDATES = 50  # best entries carried past the candidate stage (the rest never show)
HELPFUL, NOT_HELPFUL = "faq_helpful", "faq_not_helpful"
BOUGHT_REASON = "linked to an item you bought recently"


@dataclass
class FaqState:
    """A trained matcher and each of its answers' language."""

    model: Model
    keys: np.ndarray
    languages: np.ndarray


def check_query(text: str, max_length: int) -> str:
    """The query stripped, or InvalidRequest naming what is wrong with it."""
    query = text.strip()
    if not query:
        raise InvalidRequest("query is empty")
    if len(query) > max_length:
        raise InvalidRequest(f"query has {len(query)} characters; at most {max_length} allowed")
    if any(unicodedata.category(c) in ("Cc", "Cs", "Co") and c not in "\t\n\r" for c in query):
        raise InvalidRequest("query holds control or binary characters; send plain text")
    return query


def softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    shifted = (scores - scores.max()) / temperature
    weights = np.exp(shifted)
    return weights / weights.sum()


def held_out_split(entries: list[dict]):
    """(fit texts, fit keys, validation texts, validation keys): one paraphrase of every entry
    with three or more texts is held out, so each entry keeps two to learn from. Which one is
    fixed by the texts (the lowest crc32), not drawn per run: versions trained on the same
    entries are measured on the same queries, so promotion compares like with like."""
    fit, valid = ([], []), ([], [])
    for entry in entries:
        texts = entry["texts"]
        held = -1
        if len(texts) >= 3:  # never the canonical question (position 0)
            held = 1 + min(range(len(texts) - 1), key=lambda i: zlib.crc32(texts[i + 1].encode()))
        for position, text in enumerate(texts):
            part = valid if position == held else fit
            part[0].append(text)
            part[1].append(entry["key"])
    return (*fit, *valid)


def ranking_metrics(model, queries: list[str], keys: list[str], languages: dict) -> dict:
    """accuracy@1, recall@3 and MRR of ``queries`` against their ``keys``, each ranked among
    the entries of its own language (``languages``: key -> language), as serving ranks them."""
    scores = model.answer_scores(queries)
    answer_languages = np.array([languages[key] for key in model.answers])
    query_languages = np.array([languages[key] for key in keys])
    scores[answer_languages[None, :] != query_languages[:, None]] = -np.inf
    position = {key: i for i, key in enumerate(model.answers)}
    right = scores[np.arange(len(keys)), [position[key] for key in keys]]
    ranks = 1 + (scores > right[:, None]).sum(axis=1)
    confidence = [
        softmax(row[np.isfinite(row)], model.params["temperature"]).max() for row in scores
    ]
    threshold = handoff_threshold(confidence, ranks == 1, 0.9)
    return {
        "accuracy@1": float(np.mean(ranks == 1)),
        "recall@3": float(np.mean(ranks <= 3)),
        "mrr": float(np.mean(1.0 / ranks)),
        # the handoff_below at which 90% of the answered queries are right (1: none reaches it)
        "threshold_for_90%": threshold if np.isfinite(threshold) else 1.0,
    }


def active_entry_texts(keys: list[str]) -> dict[str, tuple[str, str]]:
    """key -> (question, answer) of the active entries among ``keys``: one SQL statement.

    Written out rather than built by the ORM: on a request of about 3 ms of CPU, compiling a
    queryset cost about 1 ms (cProfile, bench/faq.py --profile)."""
    keys = list(dict.fromkeys(keys))
    if not keys:
        return {}
    meta = FaqEntry._meta
    connection = connections[router.db_for_read(FaqEntry)]
    quote = connection.ops.quote_name
    column = {name: quote(meta.get_field(name).column) for name in ("key", "question", "answer")}
    sql = (
        f"SELECT {column['key']}, {column['question']}, {column['answer']} "
        f"FROM {quote(meta.db_table)} WHERE {quote(meta.get_field('is_active').column)} "
        f"AND {column['key']} IN ({', '.join(['%s'] * len(keys))})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, keys)
        return {key: (question, answer) for key, question, answer in cursor.fetchall()}


def write_query_log(
    *,
    text: str,
    user_id: str | None,
    language: str,
    entry_key: str | None,
    confidence: float,
    handed_off: bool,
    recommendation_id: str,
) -> None:
    """One INSERT of the answer's :class:`QueryLog` row, the shopper's and the entry's ids
    looked up inside it (NULL when there is none), each value prepared by its model field.

    On PostgreSQL the row commits without waiting for the WAL flush (``synchronous_commit``
    off for this transaction only, when it is its own transaction): it is visible at once (feedback finds it), and a crash of
    the database server may lose the last fraction of a second of logged questions, never
    leave a half-written row. The flush was the largest part of an answer's time there."""
    from catalog.models import User

    meta, users = QueryLog._meta, User._meta
    connection = connections[router.db_for_write(QueryLog)]
    quote = connection.ops.quote_name
    now = timezone.now()

    def prepared(name, value):
        return meta.get_field(name).get_db_prep_save(value, connection)

    columns = ["text", "language", "confidence", "handed_off", "attached"]
    columns += ["recommendation_id", "created_at"]
    values = [
        prepared("text", text),
        prepared("language", language),
        prepared("confidence", float(confidence)),
        prepared("handed_off", bool(handed_off)),
        prepared("attached", False),
        prepared("recommendation_id", recommendation_id),
        prepared("created_at", now),
    ]
    user_lookup = (
        f"(SELECT {quote(users.pk.column)} FROM {quote(users.db_table)} "
        f"WHERE {quote(users.get_field('external_id').column)} = %s LIMIT 1)"
    )
    entries = FaqEntry._meta
    entry_lookup = (
        f"(SELECT {quote(entries.pk.column)} FROM {quote(entries.db_table)} "
        f"WHERE {quote(entries.get_field('key').column)} = %s LIMIT 1)"
    )
    names = [quote(meta.get_field(name).column) for name in columns]
    names += [quote(meta.get_field("user").column), quote(meta.get_field("chosen_entry").column)]
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(names)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))}, {user_lookup}, {entry_lookup})"
    )
    # inside a caller's transaction the setting would cover the caller's writes too: not there
    relaxed = connection.vendor == "postgresql" and not connection.in_atomic_block
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        if relaxed:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        cursor.execute(sql, [*values, user_id, entry_key])


class FaqScenario(Scenario):
    slug = SLUG
    title = "Customer-service FAQ"
    kind = Kind.QUERY_ANSWERS
    primary_metric = "accuracy@1"
    click_events = (HELPFUL, NOT_HELPFUL)  # a rating is the shopper engaging with the answer
    outcome_events = (HELPFUL,)
    settings_schema = {
        "type": "object",
        "properties": {
            "model": {
                "type": "string",
                "enum": sorted(FAMILIES),
                "description": "matcher (with model_search on: the search's first point)",
            },
            "search_families": {"type": "array", "items": {"enum": sorted(FAMILIES)}},
            "chinese_tokens": {
                "type": "string",
                "enum": list(CHINESE_MODES),
                "description": "how Chinese text is cut into tokens",
            },
            "handoff_below": {
                "type": "number",
                "minimum": 0,
                "maximum": 1,
                "description": "hand the query to a person when the best answer's "
                "probability is below this",
            },
            "purchase_margin": {
                "type": "number",
                "minimum": 0,
                "maximum": 1,
                "description": "answers this close to the best one are put first when "
                "linked to an item the shopper bought (0: never)",
            },
            "purchase_days": {
                "type": "integer",
                "minimum": 1,
                "description": "how far back a purchase counts as recent",
            },
            "max_query_length": {
                "type": "integer",
                "minimum": 10,
                "maximum": 1000,
                "description": "longest query answered (characters)",
            },
            "retrain_on_change": {
                "type": "boolean",
                "description": "queue a training when an entry is saved or deleted",
            },
        },
    }
    default_settings = {
        "model": "hybrid",
        "chinese_tokens": "bigram",  # beat jieba on the demo's held-out queries (bench/faq.py)
        "handoff_below": 0.35,
        "purchase_margin": 0.1,
        "purchase_days": 30,
        "max_query_length": 500,
        "retrain_on_change": True,
        # one validation query of a small FAQ moves accuracy by about 0.01: an operator's edit
        # that costs one or two of them still goes live
        "promotion_tolerance": 0.03,
    }
    request_time_settings = frozenset(
        {"handoff_below", "purchase_margin", "purchase_days", "max_query_length"}
    )

    # ---- training ---------------------------------------------------------------------------
    def build_dataset(self, settings) -> list[dict]:
        entries = [
            {"key": e.key, "language": e.language, "texts": e.training_texts()}
            for e in FaqEntry.objects.filter(is_active=True).order_by("key")
        ]
        if len(entries) < 2:
            raise ValueError(f"{len(entries)} active FAQ entries: at least 2 are needed")
        return entries

    def _matcher(self, family: str, params: dict, chinese: str, **overrides) -> Model:
        return FAMILIES[family](**{**params, "chinese": chinese, **overrides})

    def train(self, version, artifact_dir, progress):
        """Search the matchers on the held-out paraphrases, measure the winner there, then
        refit it on every text."""
        settings = self.effective_settings(version.settings)
        progress(0.05, "reading the FAQ entries")
        entries = self.build_dataset(settings)
        fit_texts, fit_keys, val_texts, val_keys = held_out_split(entries)
        validation = (val_texts, val_keys) if val_texts else None
        languages = {e["key"]: e["language"] for e in entries}
        queries, keys = validation or (fit_texts, fit_keys)
        chinese = settings["chinese_tokens"]
        best: dict = {}  # the best point's fitted model, so the winner is not fitted twice

        def checked_fit(family: str, params: dict) -> Model:
            return self._matcher(family, params, chinese).fit(fit_texts, fit_keys, validation)

        def objective(family: str, params: dict) -> float:
            model = checked_fit(family, params)
            value = ranking_metrics(model, queries, keys, languages)[self.primary_metric]
            if value > best.get("value", -np.inf):  # ties keep the first, as the search does
                best.update(value=value, point=(family, params), model=model)
            return value

        family, params, record = search_model(
            self.slug,
            {**settings, "model_search": settings["model_search"] and validation is not None},
            {name: matcher.search_space() for name, matcher in FAMILIES.items()},
            objective,
            metric=self.primary_metric,
            progress=lambda share, message: progress(0.05 + 0.5 * share, message),
        )
        if best.get("point") == (family, params):
            checked = best["model"]
        else:
            progress(0.55, f"fitting {family} on {len(fit_texts)} texts")
            checked = checked_fit(family, params)
        metrics = ranking_metrics(checked, queries, keys, languages)
        metrics["validation_queries"] = float(len(val_texts))
        progress(0.6, f"refitting {family} on every text")
        tuned = {"weight": checked.weight} if hasattr(checked, "weight") else {}
        model = self._matcher(family, params, chinese, **tuned).fit(
            [t for e in entries for t in e["texts"]],
            [e["key"] for e in entries for _ in e["texts"]],
        )
        folder = Path(artifact_dir)
        model.save(folder / "model")
        (folder / "languages.json").write_text(json.dumps(languages), encoding="utf-8")
        return TrainingOutcome(
            metrics=metrics,
            history=checked.history.to_dict(),
            data_snapshot={
                "entries": len(entries),
                "texts": sum(len(e["texts"]) for e in entries),
                "by_language": {
                    lang: sum(e["language"] == lang for e in entries) for lang in LANGUAGES
                },
            },
            search=record,
            algorithm=family,
            hyperparameters=params,
        )

    # ---- serving ----------------------------------------------------------------------------
    def load_state(self, version) -> FaqState:
        folder = Path(version.artifact_path)
        model = Model.load(folder / "model")
        languages = json.loads((folder / "languages.json").read_text(encoding="utf-8"))
        keys = np.array(model.answers)
        return FaqState(model, keys, np.array([languages[k] for k in model.answers]))

    def resolve(self, request, context):
        request.query = check_query(request.query, context.settings["max_query_length"])
        language = request.context.get("language")
        if language is not None and language not in LANGUAGES:
            raise InvalidRequest(f"language {language!r} is not supported; use one of {LANGUAGES}")
        context.notes["language"] = language or script_of(request.query)

    def _live_state(self, context) -> FaqState | None:
        """Untrained: BM25 over the active entries as they are now."""
        context.fallback = True
        entries = self.build_dataset(context.settings) if FaqEntry.objects.exists() else []
        entries = [e for e in entries if e["texts"]]
        if len(entries) < 2:
            return None
        model = Bm25sMatcher(chinese=context.settings["chinese_tokens"]).fit(
            [t for e in entries for t in e["texts"]],
            [e["key"] for e in entries for _ in e["texts"]],
        )
        languages = {e["key"]: e["language"] for e in entries}
        keys = np.array(model.answers)
        return FaqState(model, keys, np.array([languages[k] for k in model.answers]))

    def candidates(self, request, context):
        language = context.notes["language"]
        try:
            state = context.state or self._live_state(context)
        except ValueError:  # too few entries to match against
            state = None
        if state is None or language not in LANGUAGES:  # unsupported script: a person answers
            return self._decide(context, language, Slate([], []))
        context.notes["keys"] = state.keys
        scores = state.model.answer_scores([request.query])[0]
        rows = np.flatnonzero(state.languages == language)
        if not len(rows):
            rows = np.arange(len(state.keys))
        rows = rows[scores[rows] > 0]  # sharing nothing with the query is no guess
        if not len(rows):
            return self._decide(context, language, Slate([], []))
        probabilities = softmax(scores[rows], state.model.params["temperature"])
        order = np.argsort(-probabilities, kind="stable")[:CANDIDATES]
        return self._decide(context, language, Slate(rows[order], probabilities[order]))

    def _decide(self, context, language: str, slate: Slate) -> Slate:
        confidence = float(slate.scores[0]) if len(slate) else 0.0
        context.extra.update(
            handoff=confidence < context.settings["handoff_below"],
            language=language,
            confidence=round(confidence, 6),
        )
        return slate

    def allowed(self, request, context, slate):
        """Entries deactivated (or deleted) since training are never shown. One query reads
        the live candidates' texts too, which ``explain`` shows (no second read)."""
        keys = [context.notes["keys"][row] for row in slate.rows.tolist()]
        live = active_entry_texts(keys)
        context.notes["texts"] = live
        return np.array([key in live for key in keys], dtype=bool)

    def score(self, request, context, slate):
        """Close answers linked to a recent purchase of the shopper's go first."""
        margin = context.settings["purchase_margin"]
        if not request.user_id or margin <= 0 or len(slate) < 2:
            return slate
        close = np.flatnonzero(slate.scores >= slate.scores[0] - margin)
        if len(close) < 2:
            return slate
        since = timezone.now() - timedelta(days=context.settings["purchase_days"])
        keys = [context.notes["keys"][row] for row in slate.rows[close].tolist()]
        linked = set(
            FaqEntry.objects.filter(
                key__in=keys,
                linked_items__interactions__user__external_id=request.user_id,
                linked_items__interactions__event_type="purchase",
                linked_items__interactions__timestamp__gte=since,
            ).values_list("key", flat=True)
        )
        if not linked:
            return slate
        first = [i for i, key in zip(close.tolist(), keys, strict=True) if key in linked]
        order = first + [i for i in range(len(slate)) if i not in set(first)]
        reasons = [BOUGHT_REASON if i in first else slate.reasons[i] for i in order]
        return Slate(slate.rows[order], slate.scores[order], reasons)

    def explain(self, request, context, slate):
        """The shown entries' texts, as the filter stage read them (a slate that did not pass
        it reads them now)."""
        handoff = context.extra["handoff"]
        keys = [context.notes["keys"][row] for row in slate.rows.tolist()]
        texts = context.notes.get("texts")
        if texts is None or any(key not in texts for key in keys):
            texts = active_entry_texts(keys)
        return [
            QueryAnswer(key, *texts[key], score, handoff)
            for key, score in zip(keys, slate.scores.tolist(), strict=True)
            if key in texts  # deactivated or deleted meanwhile
        ]

    def record_exposure(self, request, answer, recommendation_id):
        first = answer.items[0].entry_id if answer.items else None
        write_query_log(
            text=request.query,
            user_id=request.user_id or None,
            language=answer.extra.get("language", ""),
            entry_key=first,
            confidence=answer.extra.get("confidence", 0.0),
            handed_off=answer.extra.get("handoff", True),
            recommendation_id=recommendation_id,
        )

    # ---- feedback ---------------------------------------------------------------------------
    def feedback_events(self):
        return (
            QueryLog.objects.filter(helpful__isnull=False)
            .annotate(
                event_type=Case(
                    When(helpful=True, then=Value(HELPFUL)),
                    default=Value(NOT_HELPFUL),
                    output_field=CharField(),
                ),
                timestamp=F("feedback_at"),
            )
            .values("recommendation_id", "event_type", "timestamp")
        )
