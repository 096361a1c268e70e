from django.apps import AppConfig


class CatalogConfig(AppConfig):
    """Users, items and interactions that every scenario reads."""

    name = "catalog"
    verbose_name = "Catalog"
    default_auto_field = "django.db.models.BigAutoField"
