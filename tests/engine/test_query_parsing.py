"""The kinds' query parsing (RecommendationQuery.request_from agrees with the serializer) and
the fields scenario feedback bodies share."""

import pytest
from django.http import QueryDict
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.exceptions import ValidationError

from engine.kinds import RecommendationQuery


def through_serializer(params: QueryDict):
    serializer = RecommendationQuery(data=params)
    if not serializer.is_valid():
        return "invalid"
    return serializer.to_request()


def read_directly(params: QueryDict):
    try:
        return RecommendationQuery.request_from(params)
    except ValidationError:
        return "invalid"


def query(**values) -> QueryDict:
    params = QueryDict(mutable=True)
    for key, value in values.items():
        params[key] = value
    return params


@given(
    user_id=st.text(max_size=300),
    n=st.one_of(st.none(), st.text(max_size=5), st.integers(-5, 200).map(str)),
)
def test_plain_queries_read_as_the_serializer_reads_them(user_id, n):
    params = query(user_id=user_id) if n is None else query(user_id=user_id, n=n)
    assert read_directly(params) == through_serializer(params)


@pytest.mark.parametrize(
    "values, expected",
    [
        ({"user_id": " u1 ", "n": "007"}, ("u1", 7)),
        ({"user_id": "u1"}, ("u1", 10)),
    ],
)
def test_plain_query_values(values, expected):
    request = RecommendationQuery.request_from(query(**values))
    assert (request.user_id, request.n) == expected


@pytest.mark.parametrize(
    "values, field",
    [
        ({"user_id": "u1", "n": "0"}, "n"),
        ({"user_id": "u1", "n": "101"}, "n"),
        ({"user_id": "  "}, "user_id"),
        ({"user_id": "u1", "min_price": "5", "max_price": "1"}, "min_price"),
    ],
)
def test_invalid_queries_name_the_field(values, field):
    with pytest.raises(ValidationError) as raised:
        RecommendationQuery.request_from(query(**values))
    assert field in raised.value.detail


def test_filters_go_through_the_serializer():
    request = RecommendationQuery.request_from(
        query(user_id="u1", exclude="a, b", category="books", min_price="2.50")
    )
    assert request.exclude == ["a", "b"]
    assert request.filters == {"category": "books", "min_price": 2.5}


def test_feedback_fields_refuse_another_scenarios_id_and_an_unknown_user(db):
    from rest_framework import serializers

    from catalog.models import User
    from engine.ids import new_recommendation_id
    from engine.kinds import CatalogUserField, RecommendationIdField

    class Feedback(serializers.Serializer):
        recommendation_id = RecommendationIdField("stub_offers")
        user_id = CatalogUserField()

    user = User.objects.create(external_id="u1")
    good = Feedback(
        data={
            "recommendation_id": new_recommendation_id("stub_offers", None, "control"),
            "user_id": "u1",
        }
    )
    assert good.is_valid(), good.errors
    assert good.validated_data["user_id"] == user
    bad = Feedback(
        data={
            "recommendation_id": new_recommendation_id("products", None, "control"),
            "user_id": "nobody",
        }
    )
    assert not bad.is_valid()
    assert set(bad.errors) == {"recommendation_id", "user_id"}
    assert "nobody" in str(bad.errors["user_id"])
    too_long = Feedback(data={"recommendation_id": "x", "user_id": "u" * 300})
    assert not too_long.is_valid() and "user_id" in too_long.errors
