"""Settings for both ways to run: the embedded default (no env vars) and production.

Embedded default: SQLite file, Celery tasks run in-process, local-memory cache.
Production: DATABASE_URL (PostgreSQL), CELERY_BROKER_URL (Redis or RabbitMQ), REDIS_URL.
"""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = Path(os.environ.get("RECO_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [part.strip() for part in value.split(",") if part.strip()]


DATABASE_URL = os.environ.get("DATABASE_URL", "")
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
EMBEDDED = not (DATABASE_URL or CELERY_BROKER_URL or REDIS_URL)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me-in-production")
DEBUG = env_bool("DJANGO_DEBUG", EMBEDDED)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["*"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
# Browser frontends on other origins may call the API (keys, never cookies); the admin and the
# demo page answer no cross-origin request. None allowed unless listed.
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", [])
CORS_URLS_REGEX = r"^/api/v1/"
CORS_ALLOW_CREDENTIALS = False
CORS_PREFLIGHT_MAX_AGE = 3600

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_filters",
    "django_celery_beat",
    "corsheaders",
    "catalog",
    "engine",
    "storefront",
]

# Scenario plugins: the enabled apps (RECO_SCENARIOS, comma-separated app paths; default: every
# app under scenarios/) plus any pip-installed package declaring an entry point in the
# "recoplatform.scenarios" group (see engine.plugins).
from engine.plugins import bundled_scenarios, scenario_apps  # noqa: E402

RECO_SCENARIOS = env_list("RECO_SCENARIOS", bundled_scenarios(BASE_DIR / "scenarios"))
INSTALLED_APPS += scenario_apps(RECO_SCENARIOS)

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Django's session, CSRF, login, messages and frame-options middleware, skipped under
    # /api/v1/ (API-key clients keep no session): config/middleware.py.
    "config.middleware.SiteSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "config.middleware.SiteCsrfViewMiddleware",
    "config.middleware.SiteAuthenticationMiddleware",
    "config.middleware.SiteMessageMiddleware",
    "config.middleware.SiteXFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=600)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            # WAL lets the server's workers read while one writes, and synchronous=NORMAL
            # commits without an fsync each (0.96 -> 0.02 ms per one-row commit here): a power
            # cut may lose the last commits, never corrupt the file.
            "OPTIONS": {
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # Keep the connection across requests: opening it (connect + Django's setup) cost
            # ~1.6 ms, more than the rest of GET /api/v1/items/{id} (bench/floor.py).
            "CONN_MAX_AGE": 600,
        }
    }

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                # A Redis that stops answering costs each request at most these, not a hang.
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 1.0,
                # Precomputed lists repeat their reasons and ids' prefixes: zlib shrinks the
                # Redis memory each active user's list takes (bench/precompute.py measures it).
                "COMPRESSOR": "django_redis.compressors.zlib.ZlibCompressor",
            },
        }
    }
    # Redis holds only what can be rebuilt (lists, memos, counters, throttle windows): while
    # it is down every read misses and every write is dropped (and logged), so each scenario
    # answers from the database or computes on request; health reports the cache down.
    DJANGO_REDIS_IGNORE_EXCEPTIONS = True
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
else:
    # Room for a precomputed list per active user (Django's default keeps only 300 entries).
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns (an error under pytest) when it is missing
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# A batch of 10,000 events is a few MB of JSON.
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10_000

# Model artifacts (arrays + JSON). On several machines, point this at shared storage.
ARTIFACTS_DIR = Path(os.environ.get("RECO_ARTIFACTS_DIR", VAR_DIR / "artifacts"))
# A training run gets this long: past it the task is stopped (Celery soft time limit) and a
# version still "running" (its worker died) is marked failed by the periodic reaper.
ENGINE_TRAINING_TIMEOUT_SECONDS = int(os.environ.get("ENGINE_TRAINING_TIMEOUT_SECONDS", 3 * 3600))
# After POST /events, the scoring queue recomputes those users' precomputed lists, so their next
# request reads one instead of computing it (about one fold-in per user per event batch). Off:
# each such user's next request computes its list, as on the embedded default.
ENGINE_REFRESH_LISTS_ON_EVENTS = env_bool("ENGINE_REFRESH_LISTS_ON_EVENTS", True)

# The demo shop at /demo/ (storefront app); on by default where DEBUG is (the embedded default).
STOREFRONT_DEMO = env_bool("STOREFRONT_DEMO", DEBUG)

# Celery: without a broker, tasks run in-process (eager) so the embedded default needs nothing.
CELERY_BROKER_URL = CELERY_BROKER_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = not os.environ.get("CELERY_BROKER_URL")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE

# The API: API keys with read/write scopes, per-key throttling, JSON-only bodies, one error shape.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["catalog.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["catalog.permissions.HasApiKeyScope"],
    "DEFAULT_THROTTLE_CLASSES": ["catalog.throttling.ApiKeyRateThrottle"],
    # Requests per key; API_KEY_THROTTLE_RATE="" turns throttling off.
    "DEFAULT_THROTTLE_RATES": {
        "api_key": os.environ.get("API_KEY_THROTTLE_RATE", "6000/min") or None
    },
    "DEFAULT_PARSER_CLASSES": ["catalog.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["catalog.renderers.FastJSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "catalog.pagination.ApiPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "catalog.exceptions.api_exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Recommendation platform API",
    "DESCRIPTION": "Ingest users, items and events; get recommendations for every scenario.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
