"""The project's URLs plus the campaigns API, until config/urls.py includes it (then this is a harmless copy)."""

from django.urls import include, path

from config.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path("api/v1/", include("campaigns.urls_api")),
    *project_urlpatterns,
]
