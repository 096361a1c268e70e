"""A trigger counts each impression of a known user in their ``UserHistory`` row (created on
first use), so serving writes its impressions in one statement, atomic with the count, instead
of a transaction of an INSERT and an UPDATE.

On SQLite a later migration that rebuilds ``ads_impression`` (Django's ALTER TABLE there copies
the table) drops the trigger: such a migration must create it again (``CREATE`` below). The
serving tests fail without it (the history stops counting).
"""

from django.db import migrations

SQLITE = [
    """
    CREATE TRIGGER ads_impression_counts AFTER INSERT ON ads_impression
    FOR EACH ROW WHEN NEW.user_id IS NOT NULL
    BEGIN
        INSERT INTO ads_userhistory (user_id, impressions, clicks, purchases)
        VALUES (NEW.user_id, 1, 0, '{}')
        ON CONFLICT (user_id) DO UPDATE SET impressions = impressions + 1;
    END
    """
]
POSTGRESQL = [
    """
    CREATE FUNCTION ads_impression_counts() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO ads_userhistory (user_id, impressions, clicks, purchases)
        VALUES (NEW.user_id, 1, 0, '{}')
        ON CONFLICT (user_id) DO UPDATE SET impressions = ads_userhistory.impressions + 1;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER ads_impression_counts AFTER INSERT ON ads_impression
    FOR EACH ROW WHEN (NEW.user_id IS NOT NULL) EXECUTE FUNCTION ads_impression_counts()
    """,
]
DROP = {
    "sqlite": ["DROP TRIGGER IF EXISTS ads_impression_counts"],
    "postgresql": [
        "DROP TRIGGER IF EXISTS ads_impression_counts ON ads_impression",
        "DROP FUNCTION IF EXISTS ads_impression_counts()",
    ],
}
CREATE = {"sqlite": SQLITE, "postgresql": POSTGRESQL}


def create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor not in CREATE:
        raise RuntimeError(f"no impression-count trigger for {vendor}")
    for statement in CREATE[vendor]:
        schema_editor.execute(statement, params=None)


def drop(apps, schema_editor):
    for statement in DROP.get(schema_editor.connection.vendor, []):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("ads", "0002_history_pacing_inventory")]

    operations = [migrations.RunPython(create, drop)]
