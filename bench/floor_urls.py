"""URLs for ``bench/floor.py``: the project's, plus ``/api/v1/bench/bare`` (DRF with no auth, no
permission, no throttle: the framework's floor) and ``/api/v1/bench/authed`` (the same view behind the
API's default API-key authentication, scope check and per-key throttle, and no other work)."""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as project_urlpatterns


class Authed(APIView):
    def get(self, request):
        return Response({"ok": True})


class Bare(Authed):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []


urlpatterns = [
    path("api/v1/bench/bare", Bare.as_view()),
    path("api/v1/bench/authed", Authed.as_view()),
    *project_urlpatterns,
]
