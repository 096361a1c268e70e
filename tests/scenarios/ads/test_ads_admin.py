"""The campaign admin: spend, impressions, clicks, CTR and budget left per campaign, and a
daily chart of spend, impressions and clicks."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.scenarios.ads.contract_case import seed_ads


@pytest.fixture
def seeded(store):
    seed_ads()


def test_the_daily_stats_count_each_day_of_a_campaign(seeded, read_client):
    from scenarios.ads.charts import daily_stats
    from scenarios.ads.models import Campaign

    read_client.get("/api/v1/ads/serve", {"slot": "home", "user_id": "p1", "n": 3})
    yesterday, today = daily_stats(Campaign.objects.get(name="c0"))
    assert yesterday["day"] == (timezone.now() - timedelta(days=1)).date()
    # seed: 12 users saw each ad yesterday, users 0, 3, 6 and 9 clicked ad-0 at 0.1
    assert (yesterday["impressions"], yesterday["clicks"]) == (12, 4)
    assert yesterday["spend"] == pytest.approx(0.4) and yesterday["ctr"] == pytest.approx(100 / 3)
    assert (today["day"], today["impressions"], today["clicks"]) == (timezone.now().date(), 1, 0)


def test_the_admin_lists_campaign_results_and_charts_them(seeded, admin_client):
    from scenarios.ads.models import Campaign

    page = admin_client.get(reverse("admin:ads_campaign_changelist"))
    assert page.status_code == 200
    text = page.content.decode()
    assert '<td class="field-ctr">33.33%</td>' in text  # 4 clicks of 12 impressions
    assert '<td class="field-budget_left">10000.0000</td>' in text
    campaign = Campaign.objects.get(name="c0")
    chart = admin_client.get(reverse("admin:ads_campaign_daily", args=[campaign.pk]))
    assert chart.status_code == 200 and chart["Content-Type"] == "image/png"
    assert chart.content.startswith(b"\x89PNG")
    form = admin_client.get(reverse("admin:ads_campaign_change", args=[campaign.pk]))
    assert reverse("admin:ads_campaign_daily", args=[campaign.pk]) in form.content.decode()
    missing = admin_client.get(reverse("admin:ads_campaign_daily", args=[999_999]))
    assert missing.status_code == 404
