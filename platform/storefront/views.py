"""The demo shop's one page; everything else it shows comes from the public API (static/)."""

from django.conf import settings
from django.http import Http404
from django.shortcuts import render

from storefront.keys import ensure_demo_key


def demo(request):
    if not settings.STOREFRONT_DEMO:
        raise Http404("The storefront demo is off (STOREFRONT_DEMO=0).")
    _, raw_key = ensure_demo_key()
    config = {"apiBase": "/api/v1", "apiKey": raw_key}
    return render(request, "storefront/demo.html", {"storefront_config": config})
