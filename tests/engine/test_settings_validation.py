"""Scenario settings are validated against the schema; a bad value is refused, never saved."""

import pytest
from django.core.exceptions import ValidationError

from engine.models import ScenarioConfig


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"exploration_rate": 0.9}, "exploration_rate: 0.9 is greater than the maximum of 0.5"),
        ({"model": "magic"}, "model: 'magic' is not one of"),
        ({"candidate_count": "many"}, "candidate_count: 'many' is not of type 'integer'"),
        ({"colour": "blue"}, "Additional properties are not allowed ('colour' was unexpected)"),
        ({"hyperparameters": {"l3": 1}}, "hyperparameters: als: unknown hyperparameters ['l3']"),
        ({"retrain_schedule": "every day"}, "retrain_schedule: 'every day' needs 5 fields"),
        ({"retrain_schedule": "99 * * * *"}, "retrain_schedule: '99 * * * *' is not a valid"),
    ],
)
def test_bad_settings_are_refused_with_a_message_and_not_saved(db, overrides, message):
    config = ScenarioConfig.for_slug("products")
    original = dict(config.settings)
    config.settings = {**original, **overrides}
    with pytest.raises(ValidationError) as error:
        config.save()
    assert any(message in text for text in error.value.message_dict["settings"])
    assert ScenarioConfig.objects.get(slug="products").settings == original


def test_valid_settings_are_saved_and_schedule_becomes_a_beat_task(db):
    from django_celery_beat.models import PeriodicTask

    config = ScenarioConfig.for_slug("products")
    config.settings = {"model": "itemknn", "hyperparameters": {"neighbours": 20}}
    config.settings["retrain_schedule"] = "30 3 * * *"
    config.save()
    task = PeriodicTask.objects.get(name="retrain products")
    assert task.task == "engine.train_scenario" and task.enabled
    assert (task.crontab.minute, task.crontab.hour) == ("30", "3")
    assert task.args == '["products"]'
    config.settings["retrain_schedule"] = ""
    config.save()
    assert not PeriodicTask.objects.get(name="retrain products").enabled


def test_migrate_creates_one_settings_row_per_scenario(db):
    assert ScenarioConfig.objects.filter(slug="products").exists()


def test_admin_refuses_a_bad_value_with_the_message(admin_client):
    config = ScenarioConfig.objects.get(slug="products")
    response = admin_client.post(
        f"/admin/engine/scenarioconfig/{config.pk}/change/",
        {"slug": "products", "settings": '{"diversity": 3}'},
    )
    assert response.status_code == 200  # the form again, with the error
    assert "diversity: 3 is greater than the maximum of 1" in response.content.decode()
    config.refresh_from_db()
    assert "diversity" not in config.settings
