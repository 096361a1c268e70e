"""The admin dashboard: every installed scenario on one page with its served version, its
training queue and last failure, and the answers, clicks and outcomes attributed to it."""

import pytest

from engine.impressions import flush_impressions
from engine.models import ModelVersion

pytestmark = pytest.mark.django_db
URL = "/admin/engine/scenarioconfig/dashboard/"


def test_the_dashboard_shows_versions_queue_and_activity(
    store, train_products, read_client, write_client, admin_client
):
    served = train_products(model="itemknn")
    ModelVersion.objects.create(
        scenario="products",
        status=ModelVersion.Status.FAILED,
        algorithm="als",
        error="ValueError: no interactions of the weighted event types\n\nTraceback ...",
    )
    shown = read_client.get("/api/v1/products/recommendations", {"user_id": "p1", "n": 3}).json()
    read_client.get("/api/v1/products/recommendations", {"user_id": "p2", "n": 3})
    events = [
        {
            "user_id": "p1",
            "item_id": shown["items"][0]["item_id"],
            "type": kind,
            "context": {"recommendation_id": shown["recommendation_id"]},
        }
        for kind in ("click", "purchase")
    ]
    assert write_client.post("/api/v1/events", {"events": events}, format="json").status_code in (
        200,
        201,
    )
    flush_impressions()

    page = admin_client.get(URL).content.decode()
    card = page[page.index('id="scenario-products"') :]
    card = card[: card.index('<div class="module"') if '<div class="module"' in card else None]
    assert f"v{served.pk}</a>" in card and "itemknn" in card
    assert "no interactions of the weighted event types" in card  # the error's first line
    assert "Traceback" not in card
    assert "2 / 1 / 1" in card  # answers / clicks / outcomes
    assert "(50.0% clicked, 50.0% converted per answer)" in card
    assert 'alt="products: answers, clicks and outcomes per day"' in card
    for stub in ("stub_ads", "stub_offers", "stub_answers", "stub_people"):
        assert f'id="scenario-{stub}"' in page  # every installed scenario has its card

    chart = admin_client.get("/admin/engine/scenarioconfig/dashboard/products/activity.png")
    assert chart.status_code == 200 and chart["Content-Type"] == "image/png"
    assert chart.content.startswith(b"\x89PNG")


def test_unknown_scenario_chart_is_404_and_the_list_links_the_dashboard(admin_client):
    assert (
        admin_client.get("/admin/engine/scenarioconfig/dashboard/nope/activity.png").status_code
        == 404
    )
    listing = admin_client.get("/admin/engine/scenarioconfig/").content.decode()
    assert f'href="{URL}"' in listing


def test_the_dashboard_needs_staff(client):
    assert client.get(URL).status_code == 302  # to the admin login
