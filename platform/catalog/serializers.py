"""Serializers for users and items, and the documented shapes of events and errors.

Users and items are named by ``user_id`` / ``item_id`` (their ``external_id``); primary keys never
leave the server. Event ingestion validates rows by hand for speed (see ingestion.py); the event
serializers here describe that contract in the OpenAPI schema.
"""

from rest_framework import serializers

from catalog.ingestion import MAX_BATCH_SIZE
from catalog.models import Interaction, Item, User


class RefuseUnknownFieldsMixin:
    """Refuse fields the serializer does not accept, instead of silently dropping them."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(set(data) - writable)
            if unknown:
                allowed = ", ".join(sorted(writable))
                raise serializers.ValidationError(
                    {
                        name: [f"Unknown or read-only field; allowed fields: {allowed}."]
                        for name in unknown
                    }
                )
        return super().to_internal_value(data)


def normalize_category(value: str) -> str:
    """'/Electronics/ Phones/' -> 'Electronics/Phones': one canonical spelling per path."""
    return "/".join(part.strip() for part in value.split("/") if part.strip())


class ItemSerializer(RefuseUnknownFieldsMixin, serializers.ModelSerializer):
    item_id = serializers.CharField(
        source="external_id", max_length=255, required=False, trim_whitespace=False
    )
    category = serializers.CharField(
        max_length=255,
        required=False,
        allow_blank=True,
        help_text='Hierarchical path, e.g. "electronics/phones".',
    )
    tags = serializers.ListField(
        child=serializers.CharField(max_length=100), max_length=100, required=False
    )
    price = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=0,
        allow_null=True,
        required=False,
        coerce_to_string=False,
    )
    attributes = serializers.DictField(required=False, help_text="Free-form JSON object.")

    class Meta:
        model = Item
        fields = [
            "item_id",
            "kind",
            "title",
            "description",
            "category",
            "tags",
            "price",
            "in_stock",
            "is_hidden",
            "available_from",
            "available_until",
            "attributes",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def validate_category(self, value):
        return normalize_category(value)

    def validate_kind(self, value):
        if not value.strip():
            raise serializers.ValidationError('must not be blank, e.g. "product" or "article".')
        return value

    def validate(self, attrs):
        start, end = attrs.get("available_from"), attrs.get("available_until")
        if start and end and start >= end:
            raise serializers.ValidationError(
                {"available_until": ["must be later than available_from."]}
            )
        return attrs


class UserSerializer(RefuseUnknownFieldsMixin, serializers.ModelSerializer):
    user_id = serializers.CharField(
        source="external_id", max_length=255, required=False, trim_whitespace=False
    )
    segments = serializers.ListField(
        child=serializers.CharField(max_length=100), max_length=100, required=False
    )
    attributes = serializers.DictField(required=False, help_text="Free-form JSON object.")

    class Meta:
        model = User
        fields = [
            "user_id",
            "age_band",
            "gender",
            "location",
            "segments",
            "attributes",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]


class ItemBatchSerializer(serializers.Serializer):
    items = ItemSerializer(many=True, help_text=f"Up to {MAX_BATCH_SIZE} items, each with item_id.")


class UserBatchSerializer(serializers.Serializer):
    users = UserSerializer(many=True, help_text=f"Up to {MAX_BATCH_SIZE} users, each with user_id.")


class UpsertResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()


class EventSerializer(serializers.Serializer):
    event_id = serializers.CharField(
        max_length=255,
        required=False,
        allow_null=True,
        help_text="Client-chosen unique id; resending an event with the same id is a no-op.",
    )
    user_id = serializers.CharField(max_length=255, help_text="Unknown users are created.")
    item_id = serializers.CharField(max_length=255)
    type = serializers.CharField(
        max_length=32, help_text="An event type: view, click, add_to_cart, purchase, rating, ..."
    )
    value = serializers.FloatField(
        required=False, allow_null=True, help_text="Rating, quantity or dwell seconds."
    )
    timestamp = serializers.DateTimeField(
        required=False,
        help_text="ISO 8601; default now; at most 5 minutes in the future. Naive means UTC.",
    )
    context = serializers.DictField(
        required=False,
        allow_null=True,
        help_text="device, page, scenario, recommendation_id (used for attribution), ...",
    )


class SingleEventSerializer(EventSerializer):
    create_missing_items = serializers.BooleanField(
        required=False, default=False, help_text="Create the item if it is unknown."
    )


class EventBatchSerializer(serializers.Serializer):
    events = EventSerializer(many=True, help_text=f"1 to {MAX_BATCH_SIZE} events.")
    create_missing_items = serializers.BooleanField(
        required=False, default=False, help_text="Create unknown items instead of refusing rows."
    )


class IngestResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Events stored by this request.")
    duplicates = serializers.IntegerField(help_text="Events skipped: their event_id was seen.")


class InteractionSerializer(serializers.ModelSerializer):
    user_id = serializers.CharField(source="user.external_id")
    item_id = serializers.CharField(source="item.external_id")
    type = serializers.CharField(source="event_type")

    class Meta:
        model = Interaction
        fields = [
            "event_id",
            "user_id",
            "item_id",
            "type",
            "value",
            "timestamp",
            "context",
            "recommendation_id",
            "created_at",
        ]


class ErrorEntrySerializer(serializers.Serializer):
    index = serializers.IntegerField(required=False, help_text="Row of the batch, from 0.")
    field = serializers.CharField(help_text="Field to fix; empty for the whole row or body.")
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong and how to fix it.")
    code = serializers.CharField()
    errors = ErrorEntrySerializer(many=True, required=False)


class HealthComponentSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["up", "degraded", "down"])
    detail = serializers.CharField(
        help_text="Backend in use when up; what is wrong when degraded (still serving) or down."
    )


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "unavailable"])
    detail = serializers.CharField(required=False, help_text='Names what is down: "down: cache".')
    components = serializers.DictField(
        child=HealthComponentSerializer(), help_text="database, cache, broker and models."
    )


class UserExportSerializer(serializers.Serializer):
    user = UserSerializer()
    tables = serializers.DictField(
        child=serializers.ListField(child=serializers.DictField()),
        help_text='Rows about the user by table ("catalog.interaction", "social.follow", ...).',
    )
