"""The catalog: who (User), what (Item), what happened (Interaction), and who may call the API.

Users and items carry the store's own ids (``external_id``); the API never exposes primary keys.
"""

import hashlib
import secrets

from django.db import models
from django.db.models import Q
from django.utils import timezone


class User(models.Model):
    """A shopper, named by the store's own id."""

    external_id = models.CharField(max_length=255, unique=True)
    age_band = models.CharField(max_length=32, blank=True)
    gender = models.CharField(max_length=32, blank=True)
    location = models.CharField(max_length=255, blank=True)
    segments = models.JSONField(default=list, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.external_id


class ItemQuerySet(models.QuerySet):
    def recommendable(self, now=None):
        """Items a recommendation may show: visible, in stock, inside the availability window."""
        now = now or timezone.now()
        return self.filter(
            Q(available_from__isnull=True) | Q(available_from__lte=now),
            Q(available_until__isnull=True) | Q(available_until__gt=now),
            is_hidden=False,
            in_stock=True,
        )


class Item(models.Model):
    """Something to recommend: a product, an article, ... named by the store's own id."""

    external_id = models.CharField(max_length=255, unique=True)
    kind = models.CharField(max_length=32, default="product", db_index=True)
    title = models.CharField(max_length=500, blank=True)
    description = models.TextField(blank=True)
    category = models.CharField(
        max_length=255,
        blank=True,
        db_index=True,
        help_text='Hierarchical path, e.g. "electronics/phones".',
    )
    tags = models.JSONField(default=list, blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    in_stock = models.BooleanField(default=True)
    is_hidden = models.BooleanField(
        default=False, help_text="Hidden items are never recommended (DELETE /items/{id} sets it)."
    )
    available_from = models.DateTimeField(null=True, blank=True)
    available_until = models.DateTimeField(null=True, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    objects = ItemQuerySet.as_manager()

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.external_id


class EventType(models.Model):
    """A kind of interaction with the weight and polarity models give it."""

    name = models.SlugField(max_length=32, unique=True)
    weight = models.FloatField(default=1.0)
    is_positive = models.BooleanField(default=True)
    description = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Interaction(models.Model):
    """One event: user did ``event_type`` to item at ``timestamp``."""

    # No single-column FK indexes: the (user, -timestamp) and (item, timestamp) indexes below lead
    # with the same columns, and every extra index slows ingestion.
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="interactions", db_index=False
    )
    item = models.ForeignKey(
        Item, on_delete=models.CASCADE, related_name="interactions", db_index=False
    )
    event_type = models.CharField(max_length=32)
    value = models.FloatField(null=True, blank=True)
    timestamp = models.DateTimeField()
    context = models.JSONField(default=dict, blank=True)
    recommendation_id = models.CharField(max_length=64, blank=True)
    # NULL, not "", for "no event id": NULLs never collide under the unique constraint.
    event_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-timestamp", "-id"]
        indexes = [
            # "events of user X, newest first" and "events of item Y in a time window".
            models.Index(fields=["user", "-timestamp"], name="interaction_user_time"),
            models.Index(fields=["item", "timestamp"], name="interaction_item_time"),
            # Attribution: events that quote a recommendation.
            models.Index(fields=["recommendation_id"], name="interaction_recommendation"),
        ]
        # Declared here rather than with unique=True / db_index=True, which on PostgreSQL
        # also build a second, LIKE-pattern index that nothing uses.
        constraints = [
            models.UniqueConstraint(fields=["event_id"], name="interaction_unique_event_id"),
        ]

    def __str__(self):
        return f"{self.event_type} user={self.user_id} item={self.item_id}"


def hash_api_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKey(models.Model):
    """A client's API key; only its SHA-256 is stored, the raw key is shown once at creation."""

    SCOPES = ("read", "write")
    PREFIX_LENGTH = 8

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, db_index=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list, help_text='Any of "read", "write".')
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    def assign_new_key(self) -> str:
        """Set a fresh random key on this object (unsaved) and return the raw key."""
        raw_key = secrets.token_urlsafe(32)
        self.prefix = raw_key[: self.PREFIX_LENGTH]
        self.key_hash = hash_api_key(raw_key)
        return raw_key

    @classmethod
    def create_key(cls, name: str, scopes=("read",)) -> tuple["ApiKey", str]:
        """Create and save a key; return (object, raw key). The raw key is not recoverable later."""
        unknown = set(scopes) - set(cls.SCOPES)
        if unknown:
            raise ValueError(f"unknown scopes {sorted(unknown)}; allowed: {list(cls.SCOPES)}")
        api_key = cls(name=name, scopes=list(scopes))
        raw_key = api_key.assign_new_key()
        api_key.save()
        return api_key, raw_key

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
