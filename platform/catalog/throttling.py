"""Per-key throttling; the rate comes from REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['api_key']."""

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from catalog.models import ApiKey


class ApiKeyRateThrottle(SimpleRateThrottle):
    scope = "api_key"

    def get_rate(self):
        # Read at request time (not import time) so settings overrides and env changes apply.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, ApiKey):
            return None  # unauthenticated endpoints (health) are not throttled per key
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
