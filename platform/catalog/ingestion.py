"""Event ingestion: validate a whole batch in plain Python, then write it in one transaction.

A DRF serializer per row costs ~100 µs; batches of 1,000 events must take a few ms, so rows are
checked by hand here. Database work is set-based whatever the batch size (see bulk.py): one
lookup each for items and users, one bulk insert for new users (and items when asked), one for
the interactions, where the unique event_id constraint turns repeats into counted duplicates.
"""

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import transaction

from catalog.bulk import create_missing, insert_interactions, pks_by_external_id
from catalog.exceptions import BatchValidationError
from catalog.models import EventType, Interaction, Item, User
from catalog.signals import events_ingested

MAX_BATCH_SIZE = 10_000
MAX_CLOCK_SKEW = timedelta(minutes=5)
EVENT_FIELDS = ("event_id", "user_id", "item_id", "type", "value", "timestamp", "context")
ALLOWED_EVENT_FIELDS = frozenset(EVENT_FIELDS)
ID_MAX_LENGTH = 255
RECOMMENDATION_ID_MAX_LENGTH = 64


@dataclass(slots=True)
class ValidEvent:
    index: int
    event_id: str | None
    user_id: str
    item_id: str
    type: str
    value: float | None
    timestamp: datetime
    context: dict
    recommendation_id: str


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int


class _RowErrors:
    """Collects {index, field, message} entries for one row."""

    __slots__ = ("index", "entries")

    def __init__(self, index: int, entries: list):
        self.index = index
        self.entries = entries

    def add(self, field: str, message: str) -> None:
        self.entries.append({"index": self.index, "field": field, "message": message})


def split_payload(data) -> tuple[list, bool]:
    """Return (rows, create_missing_items) from one event object or ``{"events": [...]}``."""
    if not isinstance(data, dict):
        raise BatchValidationError(
            [_body_error('The body must be a JSON object: one event, or {"events": [...]}.')]
        )
    if "events" in data:
        unknown = sorted(set(data) - {"events", "create_missing_items"})
        if unknown:
            raise BatchValidationError(
                [
                    _body_error(
                        f"Unknown field {name!r} beside 'events'; a batch body holds only "
                        "'events' and 'create_missing_items'.",
                        field=name,
                    )
                    for name in unknown
                ]
            )
        rows = data["events"]
        if not isinstance(rows, list):
            raise BatchValidationError([_body_error("must be a list of event objects.", "events")])
        if len(rows) > MAX_BATCH_SIZE:
            raise BatchValidationError(
                [
                    _body_error(
                        f"holds {len(rows)} events; send at most {MAX_BATCH_SIZE} per request.",
                        "events",
                    )
                ]
            )
        create_missing = data.get("create_missing_items", False)
    else:
        rows = [{name: value for name, value in data.items() if name != "create_missing_items"}]
        create_missing = data.get("create_missing_items", False)
    if not isinstance(create_missing, bool):
        raise BatchValidationError([_body_error("must be true or false.", "create_missing_items")])
    return rows, create_missing


def _body_error(message: str, field: str = "") -> dict:
    return {"field": field, "message": message}


def _external_id(value, field: str, errors: _RowErrors, required: bool = True):
    if value is None:
        if required:
            errors.add(field, "is required.")
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        errors.add(field, f"must be a string id, got {type(value).__name__}.")
        return None
    if not value or len(value) > ID_MAX_LENGTH:
        errors.add(field, f"must be 1 to {ID_MAX_LENGTH} characters long.")
        return None
    return value


def _timestamp(value, errors: _RowErrors, now: datetime, latest: datetime):
    if value is None:
        return now
    if not isinstance(value, str):
        errors.add("timestamp", "must be an ISO 8601 string like 2024-05-01T12:30:00Z.")
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        errors.add("timestamp", f"{value!r} is not ISO 8601; use e.g. 2024-05-01T12:30:00Z.")
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        # Stored in UTC: PostgreSQL refuses offsets beyond ±15:59 that Python accepts.
        parsed = parsed.astimezone(UTC)
    except OverflowError:
        errors.add("timestamp", f"{value!r} is outside the years 1 to 9999 once converted to UTC.")
        return None
    if parsed > latest:
        errors.add(
            "timestamp",
            f"is more than {int(MAX_CLOCK_SKEW.total_seconds() // 60)} minutes in the future; "
            "check the client's clock and time zone.",
        )
        return None
    return parsed


def _value(value, errors: _RowErrors):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors.add("value", f"must be a number or null, got {type(value).__name__}.")
        return None
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        errors.add("value", "must be a finite number.")
        return None
    return number


def _context(value, errors: _RowErrors) -> tuple[dict, str]:
    if value is None:
        return {}, ""
    if not isinstance(value, dict):
        errors.add("context", f"must be a JSON object, got {type(value).__name__}.")
        return {}, ""
    recommendation_id = value.get("recommendation_id")
    if recommendation_id is None:
        return value, ""
    if isinstance(recommendation_id, int) and not isinstance(recommendation_id, bool):
        recommendation_id = str(recommendation_id)
    if (
        not isinstance(recommendation_id, str)
        or len(recommendation_id) > RECOMMENDATION_ID_MAX_LENGTH
    ):
        errors.add(
            "context.recommendation_id",
            f"must be a string of at most {RECOMMENDATION_ID_MAX_LENGTH} characters, as returned "
            "by a recommendation response.",
        )
        return value, ""
    return value, recommendation_id


def validate_rows(rows: list, event_types: set[str], now: datetime):
    """Check every row; return (valid events, error entries). Touches no database."""
    latest = now + MAX_CLOCK_SKEW
    valid, entries = [], []
    for index, row in enumerate(rows):
        errors = _RowErrors(index, entries)
        if not isinstance(row, dict):
            errors.add("", f"each event must be a JSON object, got {type(row).__name__}.")
            continue
        before = len(entries)
        if not row.keys() <= ALLOWED_EVENT_FIELDS:
            for name in sorted(set(row) - ALLOWED_EVENT_FIELDS):
                hint = (
                    "put create_missing_items at the top level of the batch"
                    if name == "create_missing_items"
                    else f"allowed fields: {', '.join(EVENT_FIELDS)}"
                )
                errors.add(name, f"unknown field; {hint}.")
        user_id = _external_id(row.get("user_id"), "user_id", errors)
        item_id = _external_id(row.get("item_id"), "item_id", errors)
        event_id = _external_id(row.get("event_id"), "event_id", errors, required=False)
        event_type = row.get("type")
        if not isinstance(event_type, str) or event_type not in event_types:
            if event_type is None:
                errors.add("type", f"is required; one of {', '.join(sorted(event_types))}.")
            elif not isinstance(event_type, str):
                errors.add("type", f"must be a string, got {type(event_type).__name__}.")
            else:
                errors.add(
                    "type",
                    f"unknown event type {event_type!r}; known: {', '.join(sorted(event_types))} "
                    "(operators add types in the admin).",
                )
        value = _value(row.get("value"), errors)
        timestamp = _timestamp(row.get("timestamp"), errors, now, latest)
        context, recommendation_id = _context(row.get("context"), errors)
        if len(entries) == before:
            valid.append(
                ValidEvent(
                    index,
                    event_id,
                    user_id,
                    item_id,
                    event_type,
                    value,
                    timestamp,
                    context,
                    recommendation_id,
                )
            )
    return valid, entries


def ingest(rows: list, create_missing_items: bool, now: datetime) -> IngestResult:
    """Validate the whole batch, then store it in one transaction; raise on any bad row."""
    event_types = set(EventType.objects.order_by().values_list("name", flat=True))
    events, errors = validate_rows(rows, event_types, now)
    item_pks = pks_by_external_id(Item, {event.item_id for event in events})
    if not create_missing_items:
        errors += [
            {
                "index": event.index,
                "field": "item_id",
                "message": (
                    f"unknown item {event.item_id!r}; create it first (PUT /api/v1/items/"
                    '{item_id} or POST /api/v1/items/batch) or send "create_missing_items": true.'
                ),
            }
            for event in events
            if event.item_id not in item_pks
        ]
    if errors:
        errors.sort(key=lambda entry: entry["index"])
        raise BatchValidationError(errors)

    with transaction.atomic():
        fresh = _first_of_each_event_id(events)
        user_pks = _resolve_or_create(User, {event.user_id for event in fresh})
        missing_items = {event.item_id for event in fresh} - item_pks.keys()
        if missing_items:
            item_pks.update(_resolve_or_create(Item, missing_items))
        accepted = insert_interactions(
            [
                (
                    user_pks[event.user_id],
                    item_pks[event.item_id],
                    event.type,
                    event.value,
                    event.timestamp,
                    event.context,
                    event.recommendation_id,
                    event.event_id,
                )
                for event in fresh
            ],
            created_at=now,
        )
        if accepted and events_ingested.has_listeners():
            user_ids = sorted({event.user_id for event in fresh})
            item_ids = sorted({event.item_id for event in fresh})
            transaction.on_commit(
                lambda: events_ingested.send(
                    sender=Interaction, user_ids=user_ids, item_ids=item_ids, count=accepted
                )
            )
    return IngestResult(accepted=accepted, duplicates=len(events) - accepted)


def _first_of_each_event_id(events: list[ValidEvent]) -> list[ValidEvent]:
    """Drop later repeats of an event_id within the batch (events without one all stay)."""
    seen, fresh = set(), []
    for event in events:
        if event.event_id is None:
            fresh.append(event)
        elif event.event_id not in seen:
            seen.add(event.event_id)
            fresh.append(event)
    return fresh


def _resolve_or_create(model, external_ids: set[str]) -> dict[str, int]:
    """Map external ids to primary keys, creating the missing rows (race-safe)."""
    pks = pks_by_external_id(model, external_ids)
    missing = external_ids - pks.keys()
    if missing:
        create_missing(model, missing)
        pks.update(pks_by_external_id(model, missing))
    return pks
