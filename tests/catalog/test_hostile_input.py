"""Hostile input end to end: injection strings are stored as text and shown escaped, broken
JSON is refused with a 400, and the API's cross-origin and CSRF rules differ from the admin's."""

import json
import re

import pytest
from django.test import Client

from scenarios.faq.models import QueryLog

SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'
SQL = "'; DROP TABLE catalog_item; --"
HOSTILE_TEXTS = [SCRIPT, SQL, "\u202e\ufeff\U0001f600 ｔｅｓｔ", "Robert'); --", "%s%n%x{0}"]


def put_item(client, item_id: str, text: str):
    body = {"title": text, "category": text[:200], "description": text, "tags": [text[:50]]}
    return client.put(f"/api/v1/items/{item_id}", body, format="json")


@pytest.mark.django_db
@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_injection_strings_are_stored_as_text_and_read_back_unchanged(write_client, text):
    assert put_item(write_client, "hostile", text).status_code in (200, 201)
    item = write_client.get("/api/v1/items/hostile").json()
    assert item["title"] == text and item["description"] == text


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body, message",
    [
        ("[" * 20_000 + "]" * 20_000, "nested too deeply"),
        ('{"events": [{"user_id": "a\\u0000b"}]}', "NUL"),
        ('{"events": [{"user_id": "\\ud800"}]}', "lone surrogate"),
        ('{"events": [', ""),
        (b"\xff\xfe\x00garbage", ""),
    ],
)
def test_broken_json_is_a_400_naming_the_problem(write_client, body, message):
    response = write_client.generic("POST", "/api/v1/events", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert message in response.json()["detail"]


@pytest.mark.django_db
def test_the_admin_escapes_what_shoppers_and_clients_wrote(write_client, admin_client):
    put_item(write_client, "hostile", SCRIPT)
    QueryLog.objects.create(text=SCRIPT, language="en", confidence=0.1, handed_off=True)
    for page in ("/admin/catalog/item/", "/admin/faq/querylog/"):
        html = admin_client.get(page).content.decode()
        found = [
            html[m.start() : m.end() + 40] for m in re.finditer("<script>alert|<img src=x", html)
        ]
        assert not found, (page, found)
        assert "&lt;script&gt;alert" in html, page


@pytest.mark.django_db
def test_cross_origin_calls_reach_the_api_only_from_listed_origins(settings, read_client):
    settings.CORS_ALLOWED_ORIGINS = ["https://shop.example"]
    preflight = {
        "HTTP_ORIGIN": "https://shop.example",
        "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "GET",
        "HTTP_ACCESS_CONTROL_REQUEST_HEADERS": "authorization",
    }
    allowed = Client().options("/api/v1/items", **preflight)
    assert allowed["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "authorization" in allowed["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in allowed  # keys, never cookies
    other = Client().options(
        "/api/v1/items", **{**preflight, "HTTP_ORIGIN": "https://evil.example"}
    )
    assert "Access-Control-Allow-Origin" not in other
    admin = Client().options("/admin/login/", **preflight)
    assert "Access-Control-Allow-Origin" not in admin


@pytest.mark.django_db
def test_the_admin_needs_a_csrf_token_and_the_api_needs_a_key_instead(admin_user, make_api_client):
    browser = Client(enforce_csrf_checks=True)
    login = browser.post("/admin/login/", {"username": "admin", "password": "password"})
    assert login.status_code == 403  # no CSRF token: refused
    api = make_api_client("read", "write")
    api.handler.enforce_csrf_checks = True
    event = {"user_id": "u1", "item_id": "i1", "type": "view", "event_id": "csrf-1"}
    body = {"events": [event], "create_missing_items": True}
    assert api.post("/api/v1/events", body, format="json").status_code < 300
    reader = make_api_client("read")
    refused = reader.post("/api/v1/events", json.dumps(body), content_type="application/json")
    assert refused.status_code == 403  # a read-only key cannot write
