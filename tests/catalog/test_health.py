"""GET /api/v1/health: 200 when database, cache and broker answer; 503 naming what failed."""

import pytest
from django.db import connection

from catalog.exceptions import json_server_error

URL = "/api/v1/health"


def test_all_up_with_eager_celery(api_client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True

    response = api_client.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["components"]["database"] == {"status": "up", "detail": connection.vendor}
    assert body["components"]["cache"]["status"] == "up"
    assert body["components"]["broker"] == {"status": "up", "detail": "in-process"}


@pytest.mark.integration
def test_all_up_against_the_real_services(api_client, settings):
    if settings.CELERY_TASK_ALWAYS_EAGER:
        pytest.skip("needs CELERY_BROKER_URL (make test-integration)")

    response = api_client.get(URL)

    assert response.status_code == 200, response.json()
    assert response.json()["components"]["broker"]["detail"] in {"redis", "amqp"}


def test_unreachable_broker_is_503_naming_the_broker(api_client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1

    response = api_client.get(URL)

    assert response.status_code == 503
    body = response.json()
    assert body["detail"] == "down: broker"
    assert body["components"]["broker"]["status"] == "down"
    assert body["components"]["database"]["status"] == "up"


def test_unreachable_cache_is_503_naming_the_cache(api_client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1},
        }
    }

    response = api_client.get(URL)

    assert response.status_code == 503
    assert response.json()["detail"] == "down: cache"


def test_schema_and_docs_are_served_without_a_key(api_client):
    schema = api_client.get("/api/schema/?format=json")
    docs = api_client.get("/api/docs/")

    assert schema.status_code == docs.status_code == 200
    spec = schema.json()
    assert spec["components"]["securitySchemes"]["ApiKeyAuth"]["name"] == "Authorization"
    assert {"/api/v1/events", "/api/v1/items/{item_id}", "/api/v1/users/batch"} <= set(
        spec["paths"]
    )
    assert "swagger" in docs.content.decode().lower()


def test_unknown_api_urls_answer_json_404(api_client):
    response = api_client.get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert "/api/docs/" in response.json()["detail"]


def test_server_errors_under_api_answer_json_and_elsewhere_html(rf):
    api = json_server_error(rf.get("/api/v1/items"))
    admin = json_server_error(rf.get("/admin/"))

    assert api.status_code == admin.status_code == 500
    assert api["Content-Type"] == "application/json"
    assert "text/html" in admin["Content-Type"]
