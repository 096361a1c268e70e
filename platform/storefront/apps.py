from django.apps import AppConfig


class StorefrontConfig(AppConfig):
    """The demo shop at /demo/: a page that calls only the public REST API, with a key of its own."""

    name = "storefront"
    verbose_name = "Storefront demo"
