"""API keys: 401 without a valid key, 403 without the scope, 429 past the per-key rate;
the per-request bookkeeping (key lookup, throttle counter) stays cheap."""

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from catalog import auth, throttling
from catalog.models import ApiKey
from catalog.throttling import ApiKeyRateThrottle

ITEMS = "/api/v1/items"


def test_no_key_is_401_with_the_scheme_named(api_client):
    response = api_client.get(ITEMS)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Api-Key"
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize("header", ["Api-Key wrong-key", "Api-Key ", "Bearer something"])
def test_unknown_or_malformed_keys_are_401(api_client, header):
    api_client.credentials(HTTP_AUTHORIZATION=header)

    response = api_client.get(ITEMS)

    assert response.status_code == 401
    assert response.json()["detail"]


def test_disabled_key_is_401_with_a_reason(read_client):
    ApiKey.objects.filter(pk=read_client.api_key.pk).update(is_active=False)

    response = read_client.get(ITEMS)

    assert response.status_code == 401
    assert "disabled" in response.json()["detail"]


def test_reading_needs_read_and_writing_needs_write(read_client, write_only_client):
    read_ok = read_client.get(ITEMS)
    write_refused = read_client.put(f"{ITEMS}/sku-1", {"title": "x"})
    read_refused = write_only_client.get(ITEMS)
    write_ok = write_only_client.put(f"{ITEMS}/sku-1", {"title": "x"})

    assert (read_ok.status_code, write_ok.status_code) == (200, 201)
    assert write_refused.status_code == read_refused.status_code == 403
    assert "lacks the 'write' scope" in write_refused.json()["detail"]
    assert "lacks the 'read' scope" in read_refused.json()["detail"]


def test_last_used_at_is_recorded(read_client):
    assert read_client.api_key.last_used_at is None

    read_client.get(ITEMS)

    read_client.api_key.refresh_from_db()
    assert read_client.api_key.last_used_at is not None


def test_each_key_is_throttled_on_its_own(make_api_client, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "2/min"},
    }
    first, second = make_api_client("read"), make_api_client("read")

    statuses = [first.get(ITEMS).status_code for _ in range(3)]
    other = second.get(ITEMS)

    assert statuses == [200, 200, 429]
    assert other.status_code == 200
    throttled = first.get(ITEMS)
    assert int(throttled["Retry-After"]) > 0
    assert "throttled" in throttled.json()["detail"].lower()


def test_health_is_open_to_everyone(api_client):
    assert api_client.get("/api/v1/health").status_code == 200


def test_create_api_key_command_prints_a_working_key_once(db, capsys):
    call_command("create_api_key", "--name", "storefront", "--scopes", "read,write")

    raw_key = capsys.readouterr().out.strip()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    assert client.put(f"{ITEMS}/sku-1", {}).status_code == 201
    stored = ApiKey.objects.get(name="storefront")
    assert stored.scopes == ["read", "write"]
    assert raw_key not in {stored.key_hash, stored.prefix}


@pytest.mark.parametrize("scopes", ["read,admin", " , "])
def test_create_api_key_command_refuses_bad_scopes(db, scopes):
    with pytest.raises(CommandError):
        call_command("create_api_key", "--name", "x", "--scopes", scopes)
    assert not ApiKey.objects.exists()


def test_admin_creates_a_key_and_shows_it_once(admin_client):
    response = admin_client.post(
        "/admin/catalog/apikey/add/",
        {"name": "mobile app", "scopes": ["read"], "is_active": "on"},
        follow=True,
    )

    [message] = [str(m) for m in response.context["messages"] if "copy it now" in str(m)]
    raw_key = message.split(": ", 1)[1].split(" ", 1)[0]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    assert client.get(ITEMS).status_code == 200
    assert client.put(f"{ITEMS}/sku-1", {}).status_code == 403
    assert ApiKey.objects.get().prefix == raw_key[:8]


def throttle_clock(monkeypatch, seconds: float) -> None:
    monkeypatch.setattr(ApiKeyRateThrottle, "timer", staticmethod(lambda: seconds))


def test_throttle_counts_in_fixed_windows_and_says_when_the_window_ends(
    read_client, settings, monkeypatch
):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "2/min"},
    }
    # 60,010 s is 10 s into the window [60,000, 60,060).
    throttle_clock(monkeypatch, 60_010.0)

    statuses = [read_client.get(ITEMS).status_code for _ in range(3)]
    refused = read_client.get(ITEMS)
    throttle_clock(monkeypatch, 60_060.0)  # the next window opens
    next_window = read_client.get(ITEMS)

    assert statuses == [200, 200, 429]
    assert refused["Retry-After"] == "50"
    assert next_window.status_code == 200


def test_throttle_stores_one_counter_per_window_not_a_request_history(
    read_client, settings, monkeypatch
):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "100/min"},
    }
    throttle_clock(monkeypatch, 120.0)  # window 2 of 60 s
    monkeypatch.setattr(throttling, "SYNC_SECONDS", 0.0)  # every request reaches the cache

    for _ in range(3):
        read_client.get(ITEMS)

    key_hash = read_client.api_key.key_hash
    assert cache.get(f"throttle:api_key:{key_hash}:2") == 3


def test_throttle_counts_in_process_and_sees_other_processes_at_each_sync(
    read_client, settings, monkeypatch
):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "100/min"},
    }
    throttle_clock(monkeypatch, 180.0)  # window 3
    monkeypatch.setattr(throttling, "SYNC_SECONDS", 3600.0)
    shared = f"throttle:api_key:{read_client.api_key.key_hash}:3"

    assert [read_client.get(ITEMS).status_code for _ in range(3)] == [200] * 3
    assert cache.get(shared) == 1  # only the window's first request went to the cache
    cache.incr(shared, 97)  # other server processes' requests: 98 in all now
    assert read_client.get(ITEMS).status_code == 200  # not seen until the next sync
    monkeypatch.setattr(throttling, "SYNC_SECONDS", 0.0)
    refused = read_client.get(ITEMS)  # syncs 4 more: 102 > 100
    assert refused.status_code == 429 and cache.get(shared) == 102


def test_a_known_key_is_not_read_from_the_database_again(read_client):
    read_client.get(ITEMS)

    with CaptureQueriesContext(connection) as queries:
        assert read_client.get(ITEMS).status_code == 200

    assert not [query for query in queries if "catalog_apikey" in query["sql"]]


def test_a_key_disabled_behind_the_signals_back_is_refused_once_its_memory_expires(
    read_client, monkeypatch
):
    read_client.get(ITEMS)
    ApiKey.objects.filter(pk=read_client.api_key.pk).update(is_active=False)  # no post_save

    still_remembered = read_client.get(ITEMS)
    monkeypatch.setattr(auth, "KEY_CACHE_SECONDS", 0.0)
    expired = read_client.get(ITEMS)

    assert still_remembered.status_code == 200
    assert expired.status_code == 401


def test_saving_or_deleting_a_key_takes_effect_at_once(make_api_client):
    disabled, deleted = make_api_client("read"), make_api_client("read")
    assert disabled.get(ITEMS).status_code == deleted.get(ITEMS).status_code == 200

    disabled.api_key.is_active = False
    disabled.api_key.save()
    deleted.api_key.delete()

    assert disabled.get(ITEMS).status_code == 401
    assert "disabled" in disabled.get(ITEMS).json()["detail"]
    assert deleted.get(ITEMS).status_code == 401
