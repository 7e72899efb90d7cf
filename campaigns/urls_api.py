from django.urls import path

from . import api

urlpatterns = [
    path("campaigns/", api.CampaignListApi.as_view(), name="api-campaigns"),
    path("campaigns/<int:campaign_id>/", api.CampaignDetailApi.as_view(), name="api-campaigns-detail"),
    path("campaigns/<int:campaign_id>/status/", api.CampaignStatusApi.as_view(), name="api-campaigns-status"),
    path("campaigns/<int:campaign_id>/simulate/", api.CampaignSimulateApi.as_view(), name="api-campaigns-simulate"),
    path("campaigns/<int:campaign_id>/changes/", api.CampaignChangesApi.as_view(), name="api-campaigns-changes"),
]
