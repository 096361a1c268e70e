"""The admin's middleware runs for the site and is skipped for the API (config/middleware.py)."""

from django.test import Client
from django.urls import URLPattern, URLResolver

from config.middleware import API_PREFIX


def test_api_responses_carry_no_session_or_frame_headers(read_client):
    read_client.cookies.clear()
    response = read_client.get(API_PREFIX + "health")
    assert response.status_code == 200
    assert "X-Frame-Options" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")
    assert not response.cookies


def test_the_admin_keeps_csrf_sessions_and_frame_options(db):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/admin/login/")
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "csrftoken" in page.cookies
    refused = client.post("/admin/login/", {"username": "a", "password": "b"})
    assert refused.status_code == 403  # no CSRF token
    accepted = client.post(
        "/admin/login/",
        {"username": "a", "password": "b", "csrfmiddlewaretoken": page.cookies["csrftoken"].value},
    )
    assert accepted.status_code == 200  # the form again: wrong password, but CSRF passed


def test_no_scenario_route_can_hide_a_catalog_or_engine_route():
    """Scenario routes are tried first, so the reserved slugs must name every catalog and
    engine route's first path segment."""
    from catalog.urls import urlpatterns as catalog_patterns
    from engine.urls import RESERVED_SLUGS

    def first_segment(pattern: URLPattern | URLResolver) -> str:
        return str(pattern.pattern).split("/")[0]

    segments = {first_segment(p) for p in catalog_patterns} - {""}
    assert segments <= RESERVED_SLUGS
    assert "scenarios" in RESERVED_SLUGS
