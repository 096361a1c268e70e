"""How the contract tests drive each installed scenario: the rows it trains on, a request its
kind answers, requests it must refuse, and how a client reports feedback on an answer.

Every installed scenario needs a case (``test_every_installed_scenario_has_a_case`` fails
otherwise). The products case and the stubs' are here; a scenario under scenarios/<slug>/ brings
its own with its tests, as ``CASE`` in tests/scenarios/<slug>/contract_case.py, found by
:func:`all_cases`. Cases run on the planted store (tests/engine/planted.py): users p1-p6 and
b1-b6, phones and books, each with a few events.
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.utils import timezone

_event_ids = itertools.count()


@dataclass
class Case:
    """``query`` must name a user of the planted store (``user_id``, p1 when absent) whose
    answer, once trained, is not empty; ``feedback`` posts a click or outcome on the answer's
    first item through the scenario's own API and returns the response (200 or 201)."""

    query: dict[str, Any]  # a good request of the generic endpoint
    bad: list[dict[str, Any]]  # each one a 400
    feedback: Callable[[Any, dict, str], Any]  # (write client, answer body, user id) -> response
    seed: Callable[[], None] = lambda: None  # rows the scenario trains on, beyond the store
    settings: dict[str, Any] = field(default_factory=dict)  # fast settings for the tests


def _products_click(client, body, user_id):
    event = {
        "event_id": f"contract-{next(_event_ids)}",
        "user_id": user_id,
        "item_id": body["items"][0]["item_id"],
        "type": "click",
        "context": {"recommendation_id": body["recommendation_id"]},
    }
    return client.post("/api/v1/events", {"events": [event]}, format="json")


def _seed_ads():
    from catalog.models import User
    from tests.stub_scenarios.stub_ads.models import Ad, AdClick

    ads = [
        Ad.objects.create(
            ad_id=f"ad-{n}", campaign_id=f"c-{n % 2}", slot="home", item_id="book-1", bid=0.5 + n
        )
        for n in range(3)
    ]
    user = User.objects.get(external_id="p1")
    for ad in (ads[0], ads[0], ads[1], ads[2]):
        AdClick.objects.create(ad=ad, user=user, recommendation_id="seed", price=ad.bid)


def _ads_click(client, body, user_id):
    placement = body["items"][0]
    return client.post(
        "/api/v1/stub_ads/clicks",
        {
            "recommendation_id": body["recommendation_id"],
            "ad_id": placement["ad_id"],
            "user_id": user_id,
        },
        format="json",
    )


def _seed_offers():
    from catalog.models import User
    from tests.stub_scenarios.stub_offers.models import Offer, OfferOutcome

    offers = [
        Offer.objects.create(offer_id=f"offer-{n}", title=f"{10 * n}% off", discount=0.1 * n)
        for n in range(1, 4)
    ]
    user = User.objects.get(external_id="b1")
    for offer, event in ((offers[0], "redemption"), (offers[1], "offer_click")) * 2:
        OfferOutcome.objects.create(
            offer=offer, user=user, recommendation_id="seed", event_type=event
        )


def _offers_click(client, body, user_id):
    return client.post(
        "/api/v1/stub_offers/outcomes",
        {
            "recommendation_id": body["recommendation_id"],
            "offer_id": body["items"][0]["offer_id"],
            "user_id": user_id,
            "event_type": "offer_click",
        },
        format="json",
    )


def _seed_answers():
    from tests.stub_scenarios.stub_answers.models import FaqEntry

    for entry_id, question, answer in (
        ("ship", "How long does shipping take?", "Three to five days."),
        ("return", "How do I return an order?", "From your orders page, within 30 days."),
        ("pay", "Which payment methods do you take?", "Cards and bank transfer."),
    ):
        FaqEntry.objects.create(entry_id=entry_id, question=question, answer=answer)


def _answers_click(client, body, user_id):
    return client.post(
        "/api/v1/stub_answers/feedback",
        {
            "recommendation_id": body["recommendation_id"],
            "entry_id": body["items"][0]["entry_id"],
            "user_id": user_id,
            "event_type": "answer_click",
        },
        format="json",
    )


def _seed_people():
    from catalog.models import User
    from tests.stub_scenarios.stub_people.models import Follow

    users = {user.external_id: user for user in User.objects.all()}
    now = timezone.now()
    for follower, followee in (
        ("p1", "p2"),
        ("p2", "p3"),
        ("p3", "p1"),
        ("p4", "p2"),
        ("b1", "b2"),
    ):
        Follow.objects.create(follower=users[follower], followee=users[followee], timestamp=now)


def _people_follow(client, body, user_id):
    return client.post(
        "/api/v1/stub_people/follows",
        {
            "user_id": user_id,
            "followee_id": body["items"][0]["user_id"],
            "recommendation_id": body["recommendation_id"],
        },
        format="json",
    )


CASES: dict[str, Case] = {
    "products": Case(
        query={"user_id": "p1", "n": 3},
        bad=[{"user_id": "p1", "n": 0}, {"n": 3}, {"user_id": "p1", "n": "many"}],
        feedback=_products_click,
        settings={"model": "itemknn"},
    ),
    "stub_ads": Case(
        query={"slot": "home", "user_id": "p4", "n": 2, "hour": 9},
        bad=[{"n": 2}, {"slot": "home", "hour": 25}, {"slot": "x" * 101}],
        feedback=_ads_click,
        seed=_seed_ads,
    ),
    "stub_offers": Case(
        query={"user_id": "p2", "n": 2},
        bad=[{"n": 2}, {"user_id": "p2", "n": 101}],
        feedback=_offers_click,
        seed=_seed_offers,
    ),
    "stub_answers": Case(
        query={"query": "how long is shipping", "user_id": "p1", "n": 2},
        bad=[{"user_id": "p1"}, {"query": "x" * 1001}, {"query": "shipping", "n": -1}],
        feedback=_answers_click,
        seed=_seed_answers,
    ),
    "stub_people": Case(
        query={"user_id": "p4", "n": 2},
        bad=[{"n": 2}, {"user_id": "p4", "n": 0}],
        feedback=_people_follow,
        seed=_seed_people,
    ),
}


def all_cases() -> dict[str, Case]:
    """The cases here and every tests/scenarios/<slug>/contract_case.py's ``CASE``."""
    found = dict(CASES)
    for path in sorted(Path(__file__).parents[1].glob("scenarios/*/contract_case.py")):
        module = importlib.import_module(f"tests.scenarios.{path.parent.name}.contract_case")
        found[path.parent.name] = module.CASE
    return found
