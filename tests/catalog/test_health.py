"""GET /api/v1/health: 200 when database, cache and broker answer; 503 naming what failed."""

URL = "/api/v1/health"


def test_all_up_on_the_embedded_default(api_client):
    response = api_client.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["components"]["database"] == {"status": "up", "detail": "sqlite"}
    assert body["components"]["cache"]["status"] == "up"
    assert body["components"]["broker"] == {"status": "up", "detail": "in-process"}


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
