"""The catalog REST API: events, items, users and health, under /api/v1/."""

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import health
from catalog.exceptions import BatchValidationError, flatten_errors
from catalog.filters import InteractionFilter, ItemFilter, UserFilter
from catalog.ingestion import MAX_BATCH_SIZE, ingest, split_payload
from catalog.models import Interaction, Item, User
from catalog.privacy import rows_held_about
from catalog.serializers import (
    ErrorSerializer,
    EventBatchSerializer,
    HealthSerializer,
    IngestResultSerializer,
    InteractionSerializer,
    ItemBatchSerializer,
    ItemSerializer,
    SingleEventSerializer,
    UpsertResultSerializer,
    UserBatchSerializer,
    UserExportSerializer,
    UserSerializer,
)
from catalog.signals import item_hidden, user_erased

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input; 'errors' says what to fix."),
    401: OpenApiResponse(ErrorSerializer, description="No or unknown API key."),
    403: OpenApiResponse(ErrorSerializer, description="The API key lacks the needed scope."),
    413: OpenApiResponse(ErrorSerializer, description="Body too large."),
    429: OpenApiResponse(ErrorSerializer, description="Too many requests for this API key."),
}
NOT_FOUND = {404: OpenApiResponse(ErrorSerializer, description="No such id.")}


def checked_external_id(value: str, name: str) -> str:
    """Refuse ids from the URL that no row can hold, rather than failing inside the database."""
    if len(value) > 255 or "\x00" in value:
        raise ValidationError({name: ["must be 1 to 255 characters with no NUL character."]})
    return value


@extend_schema_view(
    get=extend_schema(
        summary="List events, newest first",
        responses={200: InteractionSerializer(many=True), **ERRORS},
        tags=["events"],
    ),
)
class EventsView(generics.ListAPIView):
    """GET lists stored events; POST ingests one event or a batch."""

    queryset = Interaction.objects.select_related("user", "item").order_by("-timestamp", "-id")
    serializer_class = InteractionSerializer
    filterset_class = InteractionFilter

    @extend_schema(
        summary="Ingest one event or a batch",
        description=(
            f"Send one event object, or {{'events': [...]}} with up to {MAX_BATCH_SIZE} events. "
            "The whole batch is validated first: any bad row answers 400 with one entry per "
            "problem (index, field, message) and nothing is written. An event whose event_id "
            "was already stored (or repeats within the batch) is counted as a duplicate. "
            "Unknown users are created; unknown items are refused unless create_missing_items "
            "is true. Timestamps more than 5 minutes in the future are refused."
        ),
        request=PolymorphicProxySerializer(
            component_name="Events",  # published as "EventsRequest" (COMPONENT_SPLIT_REQUEST)
            serializers=[SingleEventSerializer, EventBatchSerializer],
            resource_type_field_name=None,
        ),
        responses={200: IngestResultSerializer, **ERRORS},
        examples=[
            OpenApiExample(
                "One event",
                value={
                    "event_id": "e-1",
                    "user_id": "u42",
                    "item_id": "sku-1",
                    "type": "purchase",
                    "value": 2,
                    "timestamp": "2024-05-01T12:30:00Z",
                    "context": {"device": "mobile", "recommendation_id": "r-9"},
                },
                request_only=True,
            ),
            OpenApiExample(
                "A batch",
                value={
                    "events": [
                        {"event_id": "e-2", "user_id": "u42", "item_id": "sku-1", "type": "view"},
                        {"event_id": "e-3", "user_id": "u7", "item_id": "sku-9", "type": "click"},
                    ],
                    "create_missing_items": True,
                },
                request_only=True,
            ),
        ],
        tags=["events"],
    )
    def post(self, request):
        rows, create_missing_items = split_payload(request.data)
        result = ingest(rows, create_missing_items, now=timezone.now())
        return Response({"accepted": result.accepted, "duplicates": result.duplicates})


class Upserter:
    """Create-or-update users or items by external id, in bulk and all-or-nothing."""

    def __init__(self, model, serializer_class, id_field: str):
        self.model = model
        self.serializer_class = serializer_class
        self.id_field = id_field

    def validate_rows(self, rows) -> list[tuple[str, dict]]:
        """Return [(external_id, validated fields)]; raise BatchValidationError on any bad row."""
        if not isinstance(rows, list):
            raise ValidationError({self.batch_key: ["must be a list of objects."]})
        if len(rows) > MAX_BATCH_SIZE:
            raise ValidationError(
                {self.batch_key: [f"holds {len(rows)} rows; send at most {MAX_BATCH_SIZE}."]}
            )
        # One list serializer: its child's fields are built once, not once per row.
        serializer = self.serializer_class(data=rows, many=True, partial=True)
        errors = []
        if not serializer.is_valid():
            # With partial=True DRF reports {row index: errors}; without, a list aligned to rows.
            row_errors = serializer.errors
            if isinstance(row_errors, list):
                row_errors = dict(enumerate(row_errors))
            for index, detail in row_errors.items():
                errors += flatten_errors(detail, index=index)
        first_index = {}
        for index, row in enumerate(rows):
            external_id = row.get(self.id_field) if isinstance(row, dict) else None
            if external_id is None:
                errors.append({"index": index, "field": self.id_field, "message": "is required."})
            elif not isinstance(external_id, str):
                continue  # the serializer reported it
            elif external_id in first_index:
                errors.append(
                    {
                        "index": index,
                        "field": self.id_field,
                        "message": f"repeats row {first_index[external_id]}; send each id once.",
                    }
                )
            else:
                first_index[external_id] = index
        if errors:
            errors.sort(key=lambda entry: entry["index"])
            raise BatchValidationError(errors)
        valid = []
        for data in serializer.validated_data:
            data = dict(data)
            valid.append((data.pop("external_id"), data))
        return valid

    @property
    def batch_key(self) -> str:
        return f"{self.model._meta.model_name}s"

    def save(self, rows: list[tuple[str, dict]]) -> tuple[int, int]:
        """Write rows; retry once if a concurrent request created one of the ids first."""
        try:
            return self._save(rows)
        except IntegrityError:
            return self._save(rows)

    @transaction.atomic
    def _save(self, rows) -> tuple[int, int]:
        existing = self.model.objects.in_bulk(
            [external_id for external_id, _ in rows], field_name="external_id"
        )
        now = timezone.now()
        to_create, to_update, changed_fields = [], [], set()
        for external_id, data in rows:
            instance = existing.get(external_id)
            if instance is None:
                to_create.append(self.model(external_id=external_id, **data))
                continue
            for name, value in data.items():
                setattr(instance, name, value)
            instance.updated_at = now  # bulk_update skips auto_now
            changed_fields.update(data)
            to_update.append(instance)
        self.model.objects.bulk_create(to_create, batch_size=1000)
        if to_update:
            self._update(to_update, sorted(changed_fields | {"updated_at"}))
        return len(to_create), len(to_update)

    def _update(self, instances, field_names: list[str]) -> None:
        """One prepared UPDATE run for every row (executemany).

        QuerySet.bulk_update builds a CASE WHEN per row and field, which takes minutes of Python
        for 10,000 rows.
        """
        meta = self.model._meta
        fields = [meta.get_field(name) for name in field_names]
        quote = connection.ops.quote_name
        assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
        sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"
        rows = [
            [
                field.get_db_prep_save(getattr(instance, field.attname), connection)
                for field in fields
            ]
            + [instance.pk]
            for instance in instances
        ]
        with connection.cursor() as cursor:
            cursor.executemany(sql, rows)


class ExternalIdDetailView(generics.GenericAPIView):
    """GET / PUT (upsert) / DELETE one row named by its external id in the URL."""

    lookup_url_kwarg: str
    upserter: Upserter

    def get_object(self):
        external_id = checked_external_id(self.kwargs[self.lookup_url_kwarg], self.lookup_url_kwarg)
        instance = self.get_queryset().filter(external_id=external_id).first()
        if instance is None:
            raise NotFound(
                f"No {self.upserter.model._meta.model_name} with {self.lookup_url_kwarg} "
                f"{external_id!r}; create it with PUT."
            )
        return instance

    def get(self, request, **kwargs):
        return Response(self.get_serializer(self.get_object()).data)

    def put(self, request, **kwargs):
        external_id = checked_external_id(self.kwargs[self.lookup_url_kwarg], self.lookup_url_kwarg)
        body = request.data
        if not isinstance(body, dict):
            raise ValidationError({"": ["The body must be a JSON object of fields to set."]})
        if body.get(self.lookup_url_kwarg, external_id) != external_id:
            raise ValidationError(
                {
                    self.lookup_url_kwarg: [
                        "differs from the id in the URL; omit it or make it match."
                    ]
                }
            )
        body = {**body, self.lookup_url_kwarg: external_id}
        try:
            [row] = self.upserter.validate_rows([body])
        except BatchValidationError as exc:
            raise ValidationError(
                {entry["field"]: [entry["message"]] for entry in exc.errors}
            ) from exc
        created, _ = self.upserter.save([row])
        instance = self.get_queryset().get(external_id=external_id)
        return Response(
            self.get_serializer(instance).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class BatchUpsertView(APIView):
    upserter: Upserter

    def post(self, request):
        body = request.data
        key = self.upserter.batch_key
        if not isinstance(body, dict) or set(body) != {key}:
            raise ValidationError(
                {"": [f'The body must be {{"{key}": [...]}} with no other field.']}
            )
        created, updated = self.upserter.save(self.upserter.validate_rows(body[key]))
        return Response({"created": created, "updated": updated})


ITEM_UPSERTER = Upserter(Item, ItemSerializer, "item_id")
USER_UPSERTER = Upserter(User, UserSerializer, "user_id")


@extend_schema_view(
    get=extend_schema(summary="List items", responses={200: ItemSerializer(many=True), **ERRORS}),
)
class ItemListView(generics.ListAPIView):
    queryset = Item.objects.order_by("id")
    serializer_class = ItemSerializer
    filterset_class = ItemFilter


@extend_schema(
    summary="Create or update many items (all-or-nothing)",
    request=ItemBatchSerializer,
    responses={200: UpsertResultSerializer, **ERRORS},
)
class ItemBatchView(BatchUpsertView):
    upserter = ITEM_UPSERTER


@extend_schema_view(
    get=extend_schema(
        summary="Get an item", responses={200: ItemSerializer, **ERRORS, **NOT_FOUND}
    ),
    put=extend_schema(
        summary="Create or update an item",
        description="Fields left out keep their current value (or the default for a new item).",
        request=ItemSerializer,
        responses={200: ItemSerializer, 201: ItemSerializer, **ERRORS},
    ),
    delete=extend_schema(
        summary="Hide an item from every recommendation",
        description="Sets is_hidden; its events stay. PUT with is_hidden false shows it again.",
        responses={204: None, **ERRORS, **NOT_FOUND},
    ),
)
class ItemDetailView(ExternalIdDetailView):
    queryset = Item.objects.all()
    serializer_class = ItemSerializer
    lookup_url_kwarg = "item_id"
    upserter = ITEM_UPSERTER

    def delete(self, request, item_id):
        item = self.get_object()
        if not item.is_hidden:
            item.is_hidden = True
            item.save(update_fields=["is_hidden", "updated_at"])
        item_hidden.send(sender=Item, item_id=item.external_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    get=extend_schema(summary="List users", responses={200: UserSerializer(many=True), **ERRORS}),
)
class UserListView(generics.ListAPIView):
    queryset = User.objects.order_by("id")
    serializer_class = UserSerializer
    filterset_class = UserFilter


@extend_schema(
    summary="Create or update many users (all-or-nothing)",
    request=UserBatchSerializer,
    responses={200: UpsertResultSerializer, **ERRORS},
)
class UserBatchView(BatchUpsertView):
    upserter = USER_UPSERTER


@extend_schema_view(
    get=extend_schema(summary="Get a user", responses={200: UserSerializer, **ERRORS, **NOT_FOUND}),
    put=extend_schema(
        summary="Create or update a user",
        description="Fields left out keep their current value (or the default for a new user).",
        request=UserSerializer,
        responses={200: UserSerializer, 201: UserSerializer, **ERRORS},
    ),
    delete=extend_schema(
        summary="Erase a user and everything derived from their events (privacy)",
        responses={204: None, **ERRORS, **NOT_FOUND},
    ),
)
class UserDetailView(ExternalIdDetailView):
    queryset = User.objects.all()
    serializer_class = UserSerializer
    lookup_url_kwarg = "user_id"
    upserter = USER_UPSERTER

    def delete(self, request, user_id):
        user = self.get_object()
        external_id = user.external_id
        with transaction.atomic():
            user.delete()  # cascades to the user's interactions
            transaction.on_commit(lambda: user_erased.send(sender=User, user_id=external_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(
    summary="Everything held about a user (privacy export)",
    description=(
        "The user's record and every row about them in every table of the platform: events "
        "and each scenario's own rows (follows, blocks, FAQ queries, coupon assignments and "
        "redemptions, ad impressions and clicks...), keyed by table. Users and items are named "
        "by their external ids. DELETE /users/{user_id} erases all of it."
    ),
    responses={200: UserExportSerializer, **ERRORS, **NOT_FOUND},
)
class UserExportView(APIView):
    def get(self, request, user_id):
        external_id = checked_external_id(user_id, "user_id")
        user = User.objects.filter(external_id=external_id).first()
        if user is None:
            raise NotFound(f"No user with user_id {external_id!r}: nothing is held about them.")
        return Response({"user": UserSerializer(user).data, "tables": rows_held_about(user)})


class HealthView(APIView):
    """Database, cache and broker status; no API key needed (load balancers call it)."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    @extend_schema(
        summary="Service health",
        responses={
            200: OpenApiResponse(
                HealthSerializer, description="Database, cache and broker are up."
            ),
            503: OpenApiResponse(
                HealthSerializer, description="At least one part is down; 'detail' names it."
            ),
        },
        tags=["health"],
    )
    def get(self, request):
        healthy, components = health.run_checks()
        if healthy:
            return Response({"status": "ok", "components": components})
        down = [name for name, state in components.items() if state["status"] != "up"]
        return Response(
            {
                "status": "unavailable",
                "detail": f"down: {', '.join(down)}",
                "components": components,
            },
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
