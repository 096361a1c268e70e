"""The demo page's own server side: its switch, its key, the config it hands the browser."""

import json

import pytest
from django.test import override_settings

from catalog.models import ApiKey, hash_api_key
from storefront.keys import demo_raw_key, ensure_demo_key


@pytest.mark.django_db
def test_the_page_hands_the_browser_a_working_key_of_its_own(client, api_client):
    with override_settings(STOREFRONT_DEMO=True):
        page = client.get("/demo/")
    assert page.status_code == 200
    config = json.loads(
        page.content.decode()
        .split('id="storefront-config" type="application/json">')[1]
        .split("</script>")[0]
    )
    assert config["apiKey"] == demo_raw_key()
    key = ApiKey.objects.get(key_hash=hash_api_key(config["apiKey"]))
    assert key.name == "storefront demo" and sorted(key.scopes) == ["read", "write"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {config['apiKey']}")
    assert api_client.get("/api/v1/items").status_code == 200
    ensure_demo_key()  # every later page view reuses the same row
    assert ApiKey.objects.filter(name="storefront demo").count() == 1


@pytest.mark.django_db
def test_the_page_is_off_when_the_operator_turns_it_off(client):
    with override_settings(STOREFRONT_DEMO=False):
        assert client.get("/demo/").status_code == 404
    assert not ApiKey.objects.exists()  # nor is its key made


@pytest.mark.django_db
def test_a_deactivated_demo_key_is_refused(client, api_client):
    api_key, raw_key = ensure_demo_key()
    api_key.is_active = False
    api_key.save()
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    assert api_client.get("/api/v1/items").status_code in (401, 403)
