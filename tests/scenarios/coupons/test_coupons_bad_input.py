"""Generated bad input on /offers and /redeem: always a 4xx with a message, never a 500, and a
refused redemption charges nothing. Known users and offers are mixed into the random values so
the domain rules (not only the parsers) are reached."""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.models import User
from scenarios.coupons.models import Offer, Redemption
from tests.scenarios.coupons.test_coupons_api import OFFERS, REDEEM, give, make_offer

EXAMPLES = settings(
    max_examples=120,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
    st.lists(st.integers(), max_size=3),
)
money = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["60.00", "49.99", "0", "-1", "1e30", "60.001", "NaN", "Infinity"]),
    anything,
)
redeem_bodies = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "user_id": st.one_of(st.sampled_from(["p1", "p2", "nobody", ""]), anything),
            "offer_id": st.one_of(st.sampled_from(["solo", "spent", "nothing", ""]), anything),
            "basket_total": money,
            "event_id": st.one_of(st.sampled_from(["e-1", "e-2", "x" * 256]), anything),
            "recommendation_id": st.one_of(
                st.sampled_from(["coupons.1.n.ab", "products.1.n.ab", "junk", "c" * 65]),
                anything,
            ),
            "categories": st.one_of(st.lists(text, max_size=3), anything),
        },
    ),
    anything,
)
offer_queries = st.fixed_dictionaries(
    {},
    optional={
        "user_id": st.one_of(st.sampled_from(["p1", "nobody", "", "a" * 300]), text),
        "n": st.one_of(st.integers(-5, 10**6).map(str), text),
    },
)


@pytest.fixture
def offers(store):
    solo = make_offer()  # p1 may redeem it once
    give(solo)
    spent = make_offer(offer_id="spent", total_budget=Decimal("4"))  # budget below a redemption
    give(spent)
    return [solo, spent]


def assert_clear_4xx(response):
    """Below 500; a refusal is JSON with a message (and the rule or the fields it names)."""
    assert response.status_code < 500, response.content
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body.get("detail"), str) and body["detail"], body
        if response.status_code == 400 and "rule" not in body:
            assert body.get("errors") or body.get("code") == "parse_error", body


def test_no_generated_redemption_gets_a_500_or_charges_when_refused(offers, write_client):
    @EXAMPLES
    @given(body=redeem_bodies)
    def send(body):
        before = {o.pk: o.spent for o in Offer.objects.all()}
        count = Redemption.objects.count()
        response = write_client.post(REDEEM, body, format="json")
        assert_clear_4xx(response)
        if response.status_code >= 400:
            assert {o.pk: o.spent for o in Offer.objects.all()} == before
            assert Redemption.objects.count() == count
        for offer in Offer.objects.all():  # never past the budget, and spent is what was paid
            assert offer.spent <= offer.total_budget
            assert offer.spent == sum(r.cost for r in offer.redemptions.all())

    send()
    # p1 may redeem solo once: whatever was generated, the per-user limit held
    assert Redemption.objects.filter(user=User.objects.get(external_id="p1")).count() <= 1


def test_no_generated_offers_query_gets_a_500(offers, read_client):
    @EXAMPLES
    @given(query=offer_queries)
    def send(query):
        response = read_client.get(OFFERS, query)
        assert_clear_4xx(response)
        assert response.status_code in (200, 400, 404), response.content

    send()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"basket_total": "NaN"}, "basket_total"),
        ({"basket_total": "1e30"}, "basket_total"),
        ({"event_id": "x" * 256}, "event_id"),
        ({"recommendation_id": "c" * 65}, "recommendation_id"),
        ({"categories": "books"}, "categories"),
    ],
)
def test_malformed_fields_are_400_naming_the_field(offers, write_client, body, field):
    full = {"user_id": "p1", "offer_id": "solo", "basket_total": "60", "event_id": "e", **body}
    response = write_client.post(REDEEM, full, format="json")
    assert response.status_code == 400, response.content
    assert field in [error["field"] for error in response.json()["errors"]]


def test_a_body_that_is_not_an_object_is_400(offers, write_client):
    for body in (["p1"], "p1", 3):
        assert write_client.post(REDEEM, body, format="json").status_code == 400
    response = write_client.post(REDEEM, "{not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["detail"]
