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


def change_url(config) -> str:
    return f"/admin/engine/scenarioconfig/{config.pk}/change/"


def test_admin_refuses_a_bad_value_with_the_message(admin_client):
    config = ScenarioConfig.objects.get(slug="products")
    response = admin_client.post(change_url(config), {"setting__diversity": "3"})
    assert response.status_code == 200  # the form again, with the error
    assert "diversity: 3.0 is greater than the maximum of 1" in response.content.decode()
    assert "setting__diversity" in response.context["adminform"].form.errors
    config.refresh_from_db()
    assert "diversity" not in config.settings


def test_admin_edits_each_setting_in_its_own_field(admin_client):
    """A list for the model family, number boxes, JSON for hyperparameters; empty fields keep
    the default and are not stored."""
    config = ScenarioConfig.objects.get(slug="products")
    page = admin_client.get(change_url(config)).content.decode()
    assert '<select name="setting__model"' in page
    assert '<option value="&quot;als&quot;">als</option>' in page
    assert 'name="setting__candidate_count"' in page and 'placeholder="100"' in page
    assert "At least 10, at most 1000. Empty: 100." in page  # bounds from the schema
    response = admin_client.post(
        change_url(config),
        {
            "setting__model": '"itemknn"',
            "setting__hyperparameters": '{"neighbours": 20}',
            "setting__candidate_count": "50",
            "setting__auto_promote": "false",
            "setting__diversity": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    config.refresh_from_db()
    assert config.settings == {
        "model": "itemknn",
        "hyperparameters": {"neighbours": 20},
        "candidate_count": 50,
        "auto_promote": False,
    }
    # The form shows what is stored; saving it unchanged stores the same.
    form = admin_client.get(change_url(config)).context["adminform"].form
    assert form["setting__model"].value() == '"itemknn"'
    assert form["setting__candidate_count"].value() == 50


def test_admin_puts_a_model_specific_error_on_the_hyperparameters_field(admin_client):
    config = ScenarioConfig.objects.get(slug="products")
    response = admin_client.post(
        change_url(config), {"setting__model": '"ease"', "setting__hyperparameters": '{"l3": 1}'}
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["setting__hyperparameters"]
    assert errors == ["hyperparameters: ease: unknown hyperparameters ['l3']"]
    config.refresh_from_db()
    assert config.settings == {}
