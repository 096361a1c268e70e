"""Scope check: reading needs the ``read`` scope, anything else needs ``write``."""

from rest_framework import permissions

from catalog.models import ApiKey


class HasApiKeyScope(permissions.BasePermission):
    """Grant when the request's API key holds the scope the method needs.

    A view may set ``required_scope`` to demand one scope whatever the method (for example a
    POST that only reads, such as a recommendation query).
    """

    def has_permission(self, request, view):
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return False  # DRF answers 401 since no authenticator succeeded
        scope = getattr(view, "required_scope", None) or (
            "read" if request.method in permissions.SAFE_METHODS else "write"
        )
        if api_key.has_scope(scope):
            return True
        self.message = (
            f"This API key lacks the '{scope}' scope needed for {request.method}; "
            f"it has {sorted(api_key.scopes) or 'no scopes'}."
        )
        return False
