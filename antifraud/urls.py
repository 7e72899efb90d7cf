"""Every route of anti-fraud: its pages (namespace "antifraud", at the site root) and its API (under /api/v1/)."""

from django.urls import path

from . import api, views

app_name = "antifraud"
urlpatterns = [
    path("appeal/", views.appeal, name="appeal"),
]

api_urlpatterns = [
    path("trail/events/", api.TrailEventsApi.as_view(), name="api-trail-events"),
]
