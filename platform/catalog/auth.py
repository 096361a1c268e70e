"""API-key authentication: ``Authorization: Api-Key <key>``; only the key's SHA-256 is stored.

Each server process remembers a resolved key for ``KEY_CACHE_SECONDS`` so a request does not
query the database (that query, compiled by the ORM, cost more than the rest of a trivial
request). Saving or deleting a key drops it at once in the process that did it (the admin, the
command); every other process refuses a disabled or deleted key within ``KEY_CACHE_SECONDS``.
Unknown keys are never remembered, so a new key works at once.
"""

import time
from datetime import timedelta

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from catalog.models import ApiKey, hash_api_key

KEYWORD = "Api-Key"
# Writing last_used_at on every request would turn every read into a write; once a minute is enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# Upper bound on how long another server process may still accept a disabled or deleted key.
KEY_CACHE_SECONDS = 10.0

# key_hash -> (ApiKey, monotonic time it was read); per process, shared by its requests.
_resolved_keys: dict[str, tuple[ApiKey, float]] = {}


def resolve_api_key(key_hash: str) -> ApiKey | None:
    """The key with this hash, from this process's memory when read under KEY_CACHE_SECONDS ago."""
    now = time.monotonic()
    cached = _resolved_keys.get(key_hash)
    if cached is not None and now - cached[1] < KEY_CACHE_SECONDS:
        return cached[0]
    api_key = ApiKey.objects.filter(key_hash=key_hash).first()
    if api_key is None:
        _resolved_keys.pop(key_hash, None)
    else:
        _resolved_keys[key_hash] = (api_key, now)
    return api_key


@receiver([post_save, post_delete], sender=ApiKey, dispatch_uid="catalog.auth.forget_api_key")
def forget_api_key(sender, instance, **kwargs):
    """A changed or deleted key is read again from the database on its next use."""
    _resolved_keys.pop(instance.key_hash, None)


class ApiClient:
    """The caller behind an API key, as ``request.user``; ``request.auth`` is the ApiKey itself."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key

    def __str__(self):
        return f"api-key:{self.api_key.name}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        keyword, _, raw_key = header.partition(" ")
        if keyword.lower() != KEYWORD.lower():
            return None  # not our scheme: the permission check answers 401
        raw_key = raw_key.strip()
        if not raw_key:
            raise exceptions.AuthenticationFailed(
                f"Empty API key: send the header as 'Authorization: {KEYWORD} <key>'."
            )
        api_key = resolve_api_key(hash_api_key(raw_key))
        if api_key is None:
            raise exceptions.AuthenticationFailed(
                "Unknown API key: check the key, or create one in the admin or with "
                "'manage.py create_api_key'."
            )
        if not api_key.is_active:
            raise exceptions.AuthenticationFailed(
                f"API key '{api_key.prefix}…' is disabled; ask an administrator to re-enable it."
            )
        now = timezone.now()
        if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
            api_key.last_used_at = now
        return ApiClient(api_key), api_key

    def authenticate_header(self, request):
        return KEYWORD


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Declares the scheme in the OpenAPI schema so Swagger UI offers an 'Authorize' box."""

    target_class = "catalog.auth.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": f"Send '{KEYWORD} <key>'. Keys have scopes read (GET) and write.",
        }
