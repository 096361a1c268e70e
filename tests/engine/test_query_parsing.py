"""RecommendationQuery.request_from: the direct read of plain queries agrees with the serializer."""

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
