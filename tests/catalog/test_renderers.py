"""The orjson renderer sends what DRF's JSONRenderer would, for every type the API returns."""

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.utils.functional import lazy
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.renderers import JSONRenderer

from catalog.renderers import FastJSONRenderer

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_any_json_value_decodes_to_what_drf_sends(value):
    body = {"value": value}  # a top-level None renders as an empty body (tested below)
    assert json.loads(FastJSONRenderer().render(body)) == json.loads(JSONRenderer().render(body))


def test_types_drf_formats_its_own_way_come_out_byte_for_byte_the_same():
    lazy_text = lazy(lambda: "translated", str)()
    payload = {
        "when": datetime(2026, 11, 28, 8, 30, 1, 250000, tzinfo=UTC),
        "day": date(2026, 11, 28),
        "price": Decimal("19.90"),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "label": lazy_text,
        "line separators": "a\u2028b\u2029c",
        "unicode": "café ✓",
        7: "integer key",
        "nested": [{"score": 0.123456, "items": ("a", "b")}],
    }
    assert FastJSONRenderer().render(payload) == JSONRenderer().render(payload)


@pytest.mark.parametrize(
    "data, media_type",
    [
        ({"big": 2**70}, None),  # wider than orjson's 64-bit integers
        ({"a": [1, 2]}, "application/json; indent=2"),
    ],
    ids=["wide integer", "indented"],
)
def test_what_orjson_cannot_do_falls_back_to_drf(data, media_type):
    assert FastJSONRenderer().render(data, media_type) == JSONRenderer().render(data, media_type)


def test_nothing_renders_as_an_empty_body():
    assert FastJSONRenderer().render(None) == b""


def test_a_float_json_cannot_hold_is_sent_as_null_not_an_error():
    body = FastJSONRenderer().render({"score": float("nan"), "bound": float("inf")})
    assert json.loads(body) == {"score": None, "bound": None}
