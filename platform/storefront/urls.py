from django.urls import path

from storefront.views import demo

app_name = "storefront"
urlpatterns = [path("", demo, name="demo")]
