"""Each kind's request and answer as the API shows them: a query serializer that turns query
parameters into a :class:`RecommendationRequest`, and the response serializer of its answers.

Scenario APIs use these for their own endpoints, and the generic endpoint picks them by the
scenario's kind, so every kind's shape is in the OpenAPI schema whatever is installed.
"""

from __future__ import annotations

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from engine.ids import require_recommendation_id
from engine.scenario import InvalidRequest, Kind, RecommendationRequest

MAX_N = 100
MAX_QUERY_LENGTH = 1000
_PLAIN_QUERY = {"user_id", "n"}


class RecommendationIdField(serializers.CharField):
    """The ``recommendation_id`` a feedback body quotes: one of this scenario's answers (a
    scenario's own feedback endpoints use it, so a typo or another scenario's id is a 400)."""

    def __init__(self, slug: str, **kwargs):
        self.slug = slug
        kwargs.setdefault("help_text", "The recommendation_id of the answer this is about.")
        super().__init__(max_length=64, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            require_recommendation_id(self.slug, value)
        except InvalidRequest as error:
            raise serializers.ValidationError(str(error)) from None
        return value


class CatalogUserField(serializers.CharField):
    """A store's user id, validated into the catalog ``User`` (an unknown id is a 400 naming
    it): what a scenario's own tables link their rows to."""

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "The store's id of a user the catalog knows.")
        super().__init__(max_length=255, **kwargs)

    def run_validation(self, data=serializers.empty):
        from catalog.models import User

        external_id = super().run_validation(data)  # a string within max_length first
        user = User.objects.filter(external_id=external_id).first()
        if user is None:
            raise serializers.ValidationError(f"no user {external_id!r}")
        return user


def _ids(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


class KindQuery(serializers.Serializer):
    """Base of the per-kind queries: ``n`` and the conversion to a request."""

    n = serializers.IntegerField(min_value=1, max_value=MAX_N, default=10)

    @classmethod
    def request_from(cls, query_params) -> RecommendationRequest:
        """The request of a valid query; 400 naming the field otherwise."""
        serializer = cls(data=query_params)
        serializer.is_valid(raise_exception=True)
        return serializer.to_request()

    def to_request(self) -> RecommendationRequest:
        raise NotImplementedError


class RecommendationQuery(KindQuery):
    """user -> items: query parameters every such call accepts."""

    user_id = serializers.CharField(max_length=255)
    exclude = serializers.CharField(
        required=False, allow_blank=True, help_text="Comma-separated item ids never to return."
    )
    category = serializers.CharField(required=False, max_length=255)
    min_price = serializers.DecimalField(
        required=False, max_digits=12, decimal_places=2, min_value=0
    )
    max_price = serializers.DecimalField(
        required=False, max_digits=12, decimal_places=2, min_value=0
    )

    def validate(self, attrs):
        low, high = attrs.get("min_price"), attrs.get("max_price")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError(
                {"min_price": f"min_price ({low}) must not exceed max_price ({high})"}
            )
        return attrs

    @classmethod
    def request_from(cls, query_params) -> RecommendationRequest:
        """The common query, ``user_id`` and ``n`` alone, is read directly: a serializer
        instance deep-copies its fields and costs about a fifth of a cached recommendation.
        Anything else, or any value the direct read is unsure of, goes through the serializer,
        which stays the one place that words errors."""
        if set(query_params) <= _PLAIN_QUERY:
            user_id = query_params.get("user_id", "").strip()
            n = query_params.get("n", "10")
            if (
                user_id
                and len(user_id) <= 255
                and user_id.isprintable()  # the serializer refuses NUL and surrogates
                and n.isascii()
                and n.isdigit()
                and 1 <= int(n) <= MAX_N
            ):
                return RecommendationRequest(user_id=user_id, n=int(n), filters={"category": None})
        return super().request_from(query_params)

    def to_request(self) -> RecommendationRequest:
        data = self.validated_data
        filters = {"category": data.get("category")}
        for bound in ("min_price", "max_price"):
            if data.get(bound) is not None:
                filters[bound] = float(data[bound])
        return RecommendationRequest(
            user_id=data["user_id"],
            n=data["n"],
            exclude=_ids(data.get("exclude", "")),
            filters=filters,
        )


class ItemQuery(KindQuery):
    """item -> items."""

    item_id = serializers.CharField(max_length=255)

    def to_request(self) -> RecommendationRequest:
        data = self.validated_data
        return RecommendationRequest(item_ids=[data["item_id"]], n=data["n"])


class BasketQuery(KindQuery):
    """basket -> items."""

    item_ids = serializers.CharField(help_text="Comma-separated ids of the items in the basket.")
    exclude = serializers.CharField(
        required=False, allow_blank=True, help_text="Comma-separated item ids never to return."
    )

    def validate_item_ids(self, value):
        ids = _ids(value)
        if not 1 <= len(ids) <= 100:
            raise serializers.ValidationError("name 1 to 100 items")
        return ids

    def to_request(self) -> RecommendationRequest:
        data = self.validated_data
        return RecommendationRequest(
            item_ids=data["item_ids"], n=data["n"], exclude=_ids(data.get("exclude", ""))
        )


class SlotQuery(KindQuery):
    """slot -> ads: the slot, and what is known of the user and the page."""

    slot = serializers.CharField(max_length=100, help_text="Name of the ad slot.")
    user_id = serializers.CharField(max_length=255, required=False)
    device = serializers.CharField(max_length=32, required=False, help_text="e.g. mobile, web.")
    item_id = serializers.CharField(
        max_length=255, required=False, help_text="The item on the page showing the slot."
    )
    hour = serializers.IntegerField(min_value=0, max_value=23, required=False)

    def to_request(self) -> RecommendationRequest:
        data = self.validated_data
        context = {key: data[key] for key in ("device", "item_id", "hour") if key in data}
        return RecommendationRequest(
            user_id=data.get("user_id"), n=data["n"], slot=data["slot"], context=context
        )


class UserQuery(KindQuery):
    """user -> offers, user -> users."""

    user_id = serializers.CharField(max_length=255)

    def to_request(self) -> RecommendationRequest:
        data = self.validated_data
        return RecommendationRequest(user_id=data["user_id"], n=data["n"])


class QuestionQuery(KindQuery):
    """query -> answers."""

    query = serializers.CharField(max_length=MAX_QUERY_LENGTH, help_text="The shopper's question.")
    user_id = serializers.CharField(max_length=255, required=False)
    language = serializers.CharField(
        max_length=16, required=False, help_text="e.g. en, zh; guessed from the text if absent."
    )

    def to_request(self) -> RecommendationRequest:
        data = self.validated_data
        context = {"language": data["language"]} if data.get("language") else {}
        return RecommendationRequest(
            user_id=data.get("user_id"), n=data["n"], query=data["query"], context=context
        )


QUERIES: dict[Kind, type[KindQuery]] = {
    Kind.USER_ITEMS: RecommendationQuery,
    Kind.ITEM_ITEMS: ItemQuery,
    Kind.BASKET_ITEMS: BasketQuery,
    Kind.SLOT_ADS: SlotQuery,
    Kind.USER_OFFERS: UserQuery,
    Kind.QUERY_ANSWERS: QuestionQuery,
    Kind.USER_USERS: UserQuery,
}

ITEM = {
    "item_id": serializers.CharField(),
    "score": serializers.FloatField(),
    "reason": serializers.CharField(),
}
AD = {
    "ad_id": serializers.CharField(),
    "campaign_id": serializers.CharField(),
    "item_id": serializers.CharField(help_text="The item the ad lands on."),
    "pctr": serializers.FloatField(help_text="Predicted click-through rate."),
    "price": serializers.FloatField(help_text="What a click costs the advertiser."),
}
OFFER = {
    "offer_id": serializers.CharField(),
    "expected_uplift": serializers.FloatField(
        help_text="Expected added conversion probability if the offer is given."
    ),
    "reason": serializers.CharField(),
}
QUERY_ANSWER = {
    "entry_id": serializers.CharField(),
    "question": serializers.CharField(),
    "answer": serializers.CharField(),
    "score": serializers.FloatField(),
    "handoff": serializers.BooleanField(help_text="True: hand the question to a person."),
}
PERSON = {
    "user_id": serializers.CharField(),
    "score": serializers.FloatField(),
    "reason": serializers.CharField(),
}


def envelope(name: str, item_name: str, item_fields: dict) -> serializers.Serializer:
    """The answer every kind shares (ids, version, flags) around its kind's items."""
    return inline_serializer(
        name,
        {
            "recommendation_id": serializers.CharField(),
            "scenario": serializers.CharField(),
            "model_version": serializers.IntegerField(allow_null=True),
            "cold_start": serializers.BooleanField(),
            "fallback": serializers.BooleanField(),
            "experiment_arm": serializers.CharField(required=False),
            "items": inline_serializer(item_name, item_fields, many=True),
        },
    )


RECOMMENDATION = envelope("Recommendation", "RecommendedItem", ITEM)
ANSWERS: dict[Kind, serializers.Serializer] = {
    Kind.USER_ITEMS: RECOMMENDATION,
    Kind.ITEM_ITEMS: RECOMMENDATION,
    Kind.BASKET_ITEMS: RECOMMENDATION,
    Kind.SLOT_ADS: envelope("AdSlotAnswer", "AdPlacement", AD),
    Kind.USER_OFFERS: envelope("OfferList", "OfferAnswer", OFFER),
    Kind.QUERY_ANSWERS: envelope("QueryAnswerList", "QueryAnswer", QUERY_ANSWER),
    Kind.USER_USERS: envelope("UserSuggestionList", "UserSuggestion", PERSON),
}
