"""The admin's middleware, skipped for the versioned API.

API clients authenticate with an API key on every request and keep no session or cookie, so
sessions, CSRF, the logged-in user, messages and frame options only cost them time (about a
fifth of a trivial API request, measured in bench/floor.py). Each class here is Django's own,
passed through for paths under ``API_PREFIX``; the admin's system checks still find them.
"""

from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.csrf import CsrfViewMiddleware

API_PREFIX = "/api/v1/"


class SiteOnly:
    """Mixin: run the wrapped middleware for every path except the API's."""

    def __call__(self, request):
        if request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        return super().__call__(request)


class SiteSessionMiddleware(SiteOnly, SessionMiddleware):
    pass


class SiteCsrfViewMiddleware(SiteOnly, CsrfViewMiddleware):
    def process_view(self, request, callback, callback_args, callback_kwargs):
        if request.path_info.startswith(API_PREFIX):
            return None
        return super().process_view(request, callback, callback_args, callback_kwargs)


class SiteAuthenticationMiddleware(SiteOnly, AuthenticationMiddleware):
    pass


class SiteMessageMiddleware(SiteOnly, MessageMiddleware):
    pass


class SiteXFrameOptionsMiddleware(SiteOnly, XFrameOptionsMiddleware):
    pass
