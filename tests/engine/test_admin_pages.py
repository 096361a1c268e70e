"""Admin pages: a version shows its metrics and training plot; actions train, promote, roll back."""

from engine.models import Experiment, ModelVersion, ScenarioConfig


def test_version_page_shows_metrics_and_plot(store, train_products, admin_client):
    version = train_products(model="itemknn")
    page = admin_client.get(f"/admin/engine/modelversion/{version.pk}/change/").content.decode()
    assert "ndcg@10" in page and "first trained version" in page
    assert f"/admin/engine/modelversion/{version.pk}/history.png" in page
    plot = admin_client.get(f"/admin/engine/modelversion/{version.pk}/history.png")
    assert plot.status_code == 200 and plot["Content-Type"] == "image/png"
    assert b"".join(plot.streaming_content).startswith(b"\x89PNG")


def test_train_now_and_rollback_actions(
    store, train_products, admin_client, django_capture_on_commit_callbacks
):
    first = train_products(model="itemknn")
    config = ScenarioConfig.objects.get(slug="products")
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            "/admin/engine/scenarioconfig/",
            {"action": "train_now", "_selected_action": [config.pk]},
        )
    second = ModelVersion.objects.exclude(pk=first.pk).get()
    assert second.triggered_by.startswith("admin:")
    assert second.status == "promoted"  # same data and model: equal metric passes the rule
    admin_client.post(
        "/admin/engine/modelversion/",
        {"action": "rollback_scenario", "_selected_action": [second.pk]},
    )
    assert ModelVersion.promoted("products").pk == first.pk


def test_experiment_page_shows_per_arm_results(store, train_products, admin_client):
    first = train_products(model="itemknn")
    second = train_products(model="ease", promotion_tolerance=1.0)
    experiment = Experiment.objects.create(
        scenario="products", name="ab", control=first, treatment=second
    )
    page = admin_client.get(f"/admin/engine/experiment/{experiment.pk}/change/").content.decode()
    assert "impressions" in page and "CTR" in page and f"v{second.pk}" in page


def test_settings_page_plots_the_metric_of_every_version(store, train_products, admin_client):
    from engine.models import ScenarioConfig

    config = ScenarioConfig.objects.get(slug="products")
    url = f"/admin/engine/scenarioconfig/{config.pk}/"
    assert "no evaluated version yet" in admin_client.get(url + "change/").content.decode()
    train_products(model="itemknn")
    train_products(model="ease", promotion_tolerance=1.0)
    assert f'src="{url}versions.png"' in admin_client.get(url + "change/").content.decode()
    png = admin_client.get(url + "versions.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


def test_settings_of_an_uninstalled_scenario_still_open(admin_client):
    """A row can outlive its scenario app (a plugin uninstalled): list and page still open."""
    from engine.models import ScenarioConfig

    (gone,) = ScenarioConfig.objects.bulk_create([ScenarioConfig(slug="gone", settings={})])
    listing = admin_client.get("/admin/engine/scenarioconfig/")
    assert listing.status_code == 200 and "(not installed)" in listing.content.decode()
    page = admin_client.get(f"/admin/engine/scenarioconfig/{gone.pk}/change/")
    assert page.status_code == 200


def test_preview_shows_what_a_user_gets_without_counting_an_impression(
    store, train_products, admin_client
):
    from engine.impressions import pending_impressions
    from engine.models import ScenarioConfig

    version = train_products(model="itemknn")
    config = ScenarioConfig.objects.get(slug="products")
    change = admin_client.get(f"/admin/engine/scenarioconfig/{config.pk}/change/").content
    url = f"/admin/engine/scenarioconfig/{config.pk}/preview/"
    assert url in change.decode()
    page = admin_client.get(url, {"user_id": "p1", "n": 2}).content.decode()
    # p1 bought and viewed phones 1-4: the two unseen phones, with reasons, and its history.
    assert "phone-5" in page and "phone-6" in page and "because you " in page
    assert f"model version: {version.pk}" in page
    assert "Phone model 1" in page  # a title in p1's history
    assert pending_impressions("products", version.pk, "") == 0
    refused = admin_client.get(url, {"user_id": "p1", "n": 0}).content.decode()
    assert "n must be a whole number from 1 to 100" in refused
    cold = admin_client.get(url, {"user_id": "stranger"}).content.decode()
    assert "cold start" in cold and "no events: a cold start" in cold


def test_a_version_page_shows_its_metrics_beside_the_promoted_ones(
    store, train_products, admin_client
):
    served = train_products(model="itemknn")
    candidate = train_products(model="popularity", auto_promote=False)
    page = admin_client.get(f"/admin/engine/modelversion/{candidate.pk}/change/").content.decode()
    assert f"<th>v{candidate.pk}</th><th>v{served.pk} (promoted)</th>" in page
    ndcg = f"<td>ndcg@10</td><td>{candidate.metrics['ndcg@10']:.4f}</td>"
    assert ndcg + f"<td>{served.metrics['ndcg@10']:.4f}</td>" in page
    own = admin_client.get(f"/admin/engine/modelversion/{served.pk}/change/").content.decode()
    assert f"v{served.pk} (promoted)</th>" not in own  # the promoted one has nothing beside it
