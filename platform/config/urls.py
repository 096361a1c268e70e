"""Root URLs: admin, OpenAPI schema and docs, and the versioned API."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from engine.urls import scenario_urlpatterns

# The hottest paths first: Django tries the patterns in order on every request.
urlpatterns = [
    *scenario_urlpatterns(),
    path("api/v1/scenarios/", include("engine.urls")),
    path("api/v1/", include("catalog.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("admin/", admin.site.urls),
    path("demo/", include("storefront.urls")),
]

# Unknown URLs and crashes under /api/ answer JSON, never an HTML page.
handler404 = "catalog.exceptions.json_not_found"
handler500 = "catalog.exceptions.json_server_error"
