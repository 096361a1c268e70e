"""The ``read`` event type: a reader opened an article; ``value`` holds the dwell seconds."""

from django.db import migrations


def add_read(apps, schema_editor):
    apps.get_model("catalog", "EventType").objects.get_or_create(
        name="read",
        defaults={
            "weight": 3.0,
            "is_positive": True,
            "description": "Article read; value holds the dwell time in seconds.",
        },
    )


class Migration(migrations.Migration):
    dependencies = [("content", "0001_initial")]

    operations = [migrations.RunPython(add_read, migrations.RunPython.noop)]
