from django.urls import path

from . import api

urlpatterns = [
    path("trail/events/", api.TrailEventsApi.as_view(), name="api-trail-events"),
]
