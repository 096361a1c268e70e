"""List filters for items, users and events (django-filter)."""

from datetime import UTC

import django_filters
from django import forms
from django.db import connections
from django.db.models import Q
from django_filters.fields import IsoDateTimeField

from catalog.models import Interaction, Item, User


def filter_json_list_contains(queryset, field: str, value: str):
    """Rows whose JSON list ``field`` holds ``value``.

    PostgreSQL answers ``@>`` (indexable with GIN); SQLite has no JSON ``contains`` lookup in
    Django, so it uses json_each.
    """
    if connections[queryset.db].vendor != "sqlite":
        return queryset.filter(**{f"{field}__contains": [value]})
    column = f'"{queryset.model._meta.db_table}"."{field}"'
    return queryset.extra(  # column names are ours; the value is a bound parameter
        where=[f"EXISTS (SELECT 1 FROM json_each({column}) WHERE json_each.value = %s)"],
        params=[value],
    )


class UtcIsoDateTimeField(IsoDateTimeField):
    """ISO 8601 date-time converted to UTC (PostgreSQL refuses offsets beyond ±15:59)."""

    def clean(self, value):
        cleaned = super().clean(value)
        if cleaned is None:
            return None
        try:
            return cleaned.astimezone(UTC)
        except OverflowError as exc:
            raise forms.ValidationError("is outside the years 1 to 9999 in UTC.") from exc


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class ItemFilter(django_filters.FilterSet):
    category = django_filters.CharFilter(
        method="filter_category",
        label='Category path prefix: "electronics" matches "electronics/phones" too.',
    )
    kind = django_filters.CharFilter()
    tag = django_filters.CharFilter(method="filter_tag", label="Items carrying this tag.")
    in_stock = django_filters.BooleanFilter()
    is_hidden = django_filters.BooleanFilter()
    recommendable = django_filters.BooleanFilter(
        method="filter_recommendable",
        label="true: only items a recommendation may show (visible, in stock, available now).",
    )
    min_price = django_filters.NumberFilter(field_name="price", lookup_expr="gte")
    max_price = django_filters.NumberFilter(field_name="price", lookup_expr="lte")
    updated_since = UtcIsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")

    class Meta:
        model = Item
        fields = []

    def filter_category(self, queryset, name, value):
        path = value.strip("/")
        return queryset.filter(Q(category=path) | Q(category__startswith=f"{path}/"))

    def filter_tag(self, queryset, name, value):
        return filter_json_list_contains(queryset, "tags", value)

    def filter_recommendable(self, queryset, name, value):
        if value:
            return queryset.recommendable()
        return queryset.exclude(pk__in=Item.objects.recommendable().values("pk"))


class UserFilter(django_filters.FilterSet):
    segment = django_filters.CharFilter(method="filter_segment", label="Users in this segment.")
    age_band = django_filters.CharFilter()
    gender = django_filters.CharFilter()
    location = django_filters.CharFilter()
    updated_since = UtcIsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")

    class Meta:
        model = User
        fields = []

    def filter_segment(self, queryset, name, value):
        return filter_json_list_contains(queryset, "segments", value)


class InteractionFilter(django_filters.FilterSet):
    user_id = django_filters.CharFilter(field_name="user__external_id")
    item_id = django_filters.CharFilter(field_name="item__external_id")
    type = django_filters.CharFilter(field_name="event_type")
    recommendation_id = django_filters.CharFilter()
    since = UtcIsoDateTimeFilter(field_name="timestamp", lookup_expr="gte")
    until = UtcIsoDateTimeFilter(field_name="timestamp", lookup_expr="lt")

    class Meta:
        model = Interaction
        fields = []
