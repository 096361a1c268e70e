"""Articles as the catalog stores them, and what serving reads of them once per catalog build.

An article is a catalog ``Item`` of kind ``article``: ``title``, ``description`` (the text),
``category`` (its topic path), ``tags``, and in ``attributes``: ``author``, ``published_at``
(ISO 8601), ``products`` (the store ids of the product items it is about), ``format``
(article, review, guide or video) and ``language``. The items API stores any of these as
given; ``POST /api/v1/content/articles`` checks them first (text required, linked products
must exist), and serving never shows an article without text.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC

import numpy as np
from django.utils.dateparse import parse_datetime

from catalog.models import Item
from engine.snapshot import CatalogSnapshot
from ml.text_tokenize import script_of

ARTICLE = "article"
FORMATS = ("article", "review", "guide", "video")
PHRASES = {
    "review": "a review of",
    "guide": "a buying guide for",
    "video": "a video about",
    "article": "an article about",
}


def article_text(title: str, text: str, category: str, tags) -> str:
    """What the text encoders read: title, body, the topic path's words and the tags."""
    topic = " ".join(part for part in category.replace("_", " ").split("/") if part)
    return "\n".join(part for part in (title, text, topic, " ".join(map(str, tags or []))) if part)


def published_at(attributes: dict, available_from, created_at) -> float:
    """Unix seconds of publication: ``attributes.published_at``, else the start of the item's
    availability window, else when the catalog first saw it."""
    stamp = attributes.get("published_at") if isinstance(attributes, dict) else None
    if isinstance(stamp, str):
        moment = parse_datetime(stamp)
        if moment is not None:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)  # naive means UTC, as the events API reads it
            return moment.timestamp()
    return (available_from or created_at).timestamp()


@dataclass
class ArticleIndex:
    """Per catalog build: each snapshot row's text, publication time, format and linked
    products, and the reverse map product id -> article rows."""

    build: int
    texts: list[str]
    has_text: np.ndarray  # bool per row
    published: np.ndarray  # unix seconds per row
    formats: list[str]
    by_product: dict[str, list[int]]
    languages: list[str]


def build_index(snapshot: CatalogSnapshot) -> ArticleIndex:
    fields = dict(
        (pk, rest)
        for pk, *rest in Item.objects.filter(pk__in=snapshot.pks.tolist()).values_list(
            "pk",
            "title",
            "description",
            "category",
            "tags",
            "attributes",
            "available_from",
            "created_at",
        )
    )
    texts, has_text, published, formats, languages = [], [], [], [], []
    by_product: dict[str, list[int]] = {}
    for row, pk in enumerate(snapshot.pks.tolist()):
        title, body, category, tags, attributes, available_from, created_at = fields[pk]
        attributes = attributes if isinstance(attributes, dict) else {}
        texts.append(article_text(title, body, category, tags))
        has_text.append(bool(body.strip()))
        published.append(published_at(attributes, available_from, created_at))
        kind = attributes.get("format")
        formats.append(kind if kind in FORMATS else "article")
        languages.append(str(attributes.get("language") or script_of(body or title)))
        for product in attributes.get("products") or []:
            by_product.setdefault(str(product), []).append(row)
    return ArticleIndex(
        build=snapshot.build,
        texts=texts,
        has_text=np.array(has_text, dtype=bool),
        published=np.array(published, dtype=np.float64),
        formats=formats,
        by_product=by_product,
        languages=languages,
    )


class _Indexes:
    """The index of the newest snapshot build, rebuilt when the build changes."""

    def __init__(self):
        self._index: ArticleIndex | None = None
        self._lock = threading.Lock()

    def get(self, snapshot: CatalogSnapshot) -> ArticleIndex:
        found = self._index
        if found is not None and found.build == snapshot.build:
            return found
        with self._lock:
            if self._index is None or self._index.build != snapshot.build:
                self._index = build_index(snapshot)
            return self._index


indexes = _Indexes()
