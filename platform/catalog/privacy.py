"""What the platform holds about one user, gathered from every installed app's tables.

Any model with a foreign key to :class:`catalog.models.User` holds rows about that user: the
catalog's interactions and each scenario's own tables (follows, blocks, FAQ queries, coupon
assignments, ad impressions...), found through Django's model registry, so a new scenario's
tables are exported (and, by the same foreign keys, erased with the user) with no edit here.
Foreign keys to rows with an ``external_id`` (users, items) are given by that id, never by the
internal primary key a client cannot use.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps

from catalog.models import User


def _columns(model) -> tuple[list[str], dict[str, str]]:
    """The ``values()`` names of the model's columns, and the renames back to field names."""
    names, renames = [], {}
    for field in model._meta.concrete_fields:
        related = field.related_model if field.many_to_one else None
        if related is not None and any(f.name == "external_id" for f in related._meta.fields):
            lookup = f"{field.name}__external_id"
            names.append(lookup)
            renames[lookup] = field.name
        else:
            names.append(field.attname)
    return names, renames


def rows_held_about(user: User) -> dict[str, list[dict[str, Any]]]:
    """``{"app_label.model": [row, ...]}`` for every table with rows about ``user``."""
    tables: dict[str, list[dict[str, Any]]] = {}
    for model in apps.get_models():
        links = [
            field.name
            for field in model._meta.concrete_fields
            if field.many_to_one and field.related_model is User
        ]
        if not links:
            continue
        names, renames = _columns(model)
        for link in links:
            rows = model.objects.filter(**{link: user}).order_by("pk").values(*names)
            found = [{renames.get(key, key): value for key, value in row.items()} for row in rows]
            if found:
                tables.setdefault(model._meta.label_lower, []).extend(found)
    return tables
