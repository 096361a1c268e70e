"""The project's URLs plus ``/api/v1/bench/floor``: a DRF view with the same API-key auth, scope check
and throttle as every endpoint, and no work, so its cost is the framework's floor."""

from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as project_urlpatterns


class Floor(APIView):
    def get(self, request):
        return Response({"ok": True})


urlpatterns = [path("api/v1/bench/floor", Floor.as_view()), *project_urlpatterns]
