"""Seed the standard event types; operators tune weights in the admin afterwards."""

from django.db import migrations

# name: (weight, is_positive, description). Weight is signal strength; the flag gives its sign.
DEFAULT_EVENT_TYPES = {
    "view": (1.0, True, "Item page viewed."),
    "click": (2.0, True, "Item clicked in a list or a recommendation."),
    "add_to_cart": (4.0, True, "Item added to the cart; value may hold the quantity."),
    "purchase": (8.0, True, "Item bought; value may hold the quantity."),
    "rating": (3.0, True, "Explicit rating; value holds the score."),
    "like": (4.0, True, "Explicit like."),
    "dislike": (4.0, False, "Explicit dislike."),
    "share": (5.0, True, "Item shared with someone."),
}


def seed_event_types(apps, schema_editor):
    event_type_model = apps.get_model("catalog", "EventType")
    for name, (weight, is_positive, description) in DEFAULT_EVENT_TYPES.items():
        event_type_model.objects.get_or_create(
            name=name,
            defaults={"weight": weight, "is_positive": is_positive, "description": description},
        )


def remove_event_types(apps, schema_editor):
    apps.get_model("catalog", "EventType").objects.filter(name__in=DEFAULT_EVENT_TYPES).delete()


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]

    operations = [migrations.RunPython(seed_event_types, remove_event_types)]
