"""API-key authentication: ``Authorization: Api-Key <key>``; only the key's SHA-256 is stored."""

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from catalog.models import ApiKey, hash_api_key

KEYWORD = "Api-Key"
# Writing last_used_at on every request would turn every read into a write; once a minute is enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)


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
        api_key = ApiKey.objects.filter(key_hash=hash_api_key(raw_key)).first()
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
