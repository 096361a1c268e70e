"""A/B comparison of two arms: hand-computed z-test and interval, verdicts, admin summary."""

import math

import pytest

from engine.experiments import MIN_RESPONSES, compare_arms


def test_a_clear_lift_matches_the_hand_computed_test():
    # 10% vs 15% of 1,000 responses: pooled rate 0.125, null s.e. sqrt(.125 * .875 * 2 / 1000)
    # = 0.014790, z = 0.05 / 0.014790 = 3.3806, two-sided p = 0.000723; unpooled s.e.
    # sqrt(.1 * .9 / 1000 + .15 * .85 / 1000) = 0.014748, 95% interval 0.05 +- 0.028906.
    result = compare_arms("clicked", 100, 1000, 150, 1000)
    assert result.difference == pytest.approx(0.05)
    assert result.p_value == pytest.approx(0.000723, abs=2e-6)
    assert result.interval == pytest.approx((0.021094, 0.078906), abs=1e-6)
    assert result.verdict == "treatment better"
    assert "+5.00 points" in result.summary() and "treatment better" in result.summary()


def test_worse_treatment_and_no_difference():
    assert compare_arms("clicked", 150, 1000, 100, 1000).verdict == "control better"
    same = compare_arms("clicked", 120, 1000, 121, 1000)
    assert same.verdict == "no significant difference" and same.p_value > 0.9
    nothing = compare_arms("converted", 0, 500, 0, 500)
    assert nothing.p_value == 1.0 and nothing.verdict == "no significant difference"


def test_too_few_responses_is_not_called():
    early = compare_arms("clicked", 5, MIN_RESPONSES - 1, 40, 500)
    assert early.p_value is None and early.verdict.startswith("collecting data")
    assert all(math.isnan(bound) for bound in early.interval)


def test_impossible_counts_are_refused():
    with pytest.raises(ValueError, match="between 0 and the number of responses"):
        compare_arms("clicked", 11, 10, 0, 10)


@pytest.fixture
def experiment_with_traffic(store, train_products):
    """An experiment whose arms served 400 responses each; 20 (control) and 60 (treatment)
    were clicked, one of the treatment's twice."""
    from django.utils import timezone

    from catalog.models import Interaction, Item, User
    from engine.ids import attribution_prefix
    from engine.models import Experiment, ImpressionCount

    first = train_products(model="itemknn")
    second = train_products(model="ease", promotion_tolerance=1.0)
    experiment = Experiment.objects.create(
        scenario="products", name="ab", control=first, treatment=second
    )
    user, item = User.objects.first(), Item.objects.first()
    today = timezone.now().date()
    for arm, version, clicked in (("control", first, 20), ("treatment", second, 60)):
        ImpressionCount.objects.create(
            scenario="products", model_version=version, arm=arm, day=today, count=400
        )
        prefix = attribution_prefix("products", version.pk, arm)
        Interaction.objects.bulk_create(
            Interaction(
                user=user,
                item=item,
                event_type="click",
                timestamp=timezone.now(),
                recommendation_id=f"{prefix}{n}",
            )
            for n in [*range(clicked), 0]  # response 0 is clicked twice
        )
    return experiment


def test_experiment_page_calls_the_winner_from_attributed_responses(
    experiment_with_traffic, admin_client
):
    """Responses clicked per arm come from events quoting the recommendation ids; two clicks on
    one response count once."""
    from engine.attribution import arm_stats

    experiment = experiment_with_traffic
    stats = arm_stats("products", experiment.treatment_id, "treatment")
    assert (stats["clicks"], stats["clicked_responses"]) == (61, 60)
    page = admin_client.get(f"/admin/engine/experiment/{experiment.pk}/change/").content.decode()
    assert "responses clicked: control 5.00%, treatment 15.00%" in page
    assert "treatment better" in page
    assert "responses converted: control 0.00%, treatment 0.00%" in page


def test_experiment_results_api(experiment_with_traffic, read_client):
    body = read_client.get("/api/v1/scenarios/products/experiments").json()
    (result,) = body["results"]
    assert result["name"] == "ab" and result["is_active"] is True
    control, treatment = result["arms"]
    assert (control["arm"], control["impressions"], control["clicked_responses"]) == (
        "control",
        400,
        20,
    )
    assert (treatment["clicks"], treatment["clicked_responses"]) == (61, 60)
    clicked, converted = result["comparisons"]
    assert clicked["verdict"] == "treatment better" and clicked["p_value"] < 0.001
    assert clicked["difference"] == pytest.approx(0.10)
    assert clicked["interval"][0] < 0.10 < clicked["interval"][1]
    assert converted["verdict"] == "no significant difference"
    missing = read_client.get("/api/v1/scenarios/nope/experiments")
    assert missing.status_code == 404 and "unknown scenario 'nope'" in missing.json()["detail"]


def test_daily_series_and_plot_of_an_experiment(store, train_products, admin_client):
    from datetime import timedelta

    from django.utils import timezone

    from catalog.models import Interaction, Item, User
    from engine.attribution import arm_daily
    from engine.ids import attribution_prefix
    from engine.models import Experiment, ImpressionCount

    first = train_products(model="itemknn")
    second = train_products(model="ease", promotion_tolerance=1.0)
    experiment = Experiment.objects.create(
        scenario="products", name="ab", control=first, treatment=second
    )
    now = timezone.now()
    yesterday, today = (now - timedelta(days=1)).date(), now.date()
    for day, count in ((yesterday, 200), (today, 300)):
        ImpressionCount.objects.create(
            scenario="products", model_version=second, arm="treatment", day=day, count=count
        )
    prefix = attribution_prefix("products", second.pk, "treatment")
    user, item = User.objects.first(), Item.objects.first()
    Interaction.objects.bulk_create(
        Interaction(user=user, item=item, event_type="click", timestamp=when, recommendation_id=rid)
        for when, rid in (
            (now - timedelta(days=1), f"{prefix}a"),
            (now, f"{prefix}b"),
            (now, f"{prefix}b"),  # the same response twice: one clicked response
            (now, f"{prefix}c"),
        )
    )
    assert arm_daily("products", second.pk, "treatment") == {yesterday: (200, 1), today: (300, 2)}
    assert arm_daily("products", first.pk, "control") == {}
    url = f"/admin/engine/experiment/{experiment.pk}/"
    assert f'src="{url}daily.png"' in admin_client.get(url + "change/").content.decode()
    png = admin_client.get(url + "daily.png")
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    assert admin_client.get("/admin/engine/experiment/999999/daily.png").status_code == 404
