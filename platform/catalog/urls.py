"""Catalog endpoints, mounted under /api/v1/ by config.urls."""

from django.urls import path

from catalog import views

app_name = "catalog"

urlpatterns = [
    path("health", views.HealthView.as_view(), name="health"),
    path("events", views.EventsView.as_view(), name="events"),
    path("items", views.ItemListView.as_view(), name="item-list"),
    path("items/batch", views.ItemBatchView.as_view(), name="item-batch"),
    path("items/<str:item_id>", views.ItemDetailView.as_view(), name="item-detail"),
    path("users", views.UserListView.as_view(), name="user-list"),
    path("users/batch", views.UserBatchView.as_view(), name="user-batch"),
    path("users/<str:user_id>", views.UserDetailView.as_view(), name="user-detail"),
    path("users/<str:user_id>/export", views.UserExportView.as_view(), name="user-export"),
]
