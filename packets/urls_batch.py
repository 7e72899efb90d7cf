"""API routes of batch packets; included under /api/v1/ by config/urls.py."""

from django.urls import path

from . import api_batch

urlpatterns = [
    path("packets/claim/", api_batch.PacketClaimApi.as_view(), name="api-packets-claim"),
]
