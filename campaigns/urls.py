"""Every route of campaigns: its pages (namespace "campaigns", under /campaigns/) and its API (under /api/v1/):
campaigns, then the programs' (milestone enrolments, trial feedback)."""

from django.urls import path

from . import api, views
from .programs import api as api_programs

app_name = "campaigns"
urlpatterns = [
    path("<int:campaign_id>/rules/", views.rules_page, name="rules"),
]

api_urlpatterns = [
    path("campaigns/", api.CampaignListApi.as_view(), name="api-campaigns"),
    path("campaigns/<int:campaign_id>/", api.CampaignDetailApi.as_view(), name="api-campaigns-detail"),
    path("campaigns/<int:campaign_id>/status/", api.CampaignStatusApi.as_view(), name="api-campaigns-status"),
    path("campaigns/<int:campaign_id>/simulate/", api.CampaignSimulateApi.as_view(), name="api-campaigns-simulate"),
    path("campaigns/<int:campaign_id>/changes/", api.CampaignChangesApi.as_view(), name="api-campaigns-changes"),
    path("milestones/enrolments/", api_programs.EnrolmentCreateApi.as_view(), name="api-milestones-enrolments"),
    path(
        "milestones/enrolments/<int:enrolment_id>/",
        api_programs.EnrolmentDetailApi.as_view(),
        name="api-milestones-enrolments-detail",
    ),
    path(
        "milestones/enrolments/<int:enrolment_id>/attest/",
        api_programs.EnrolmentAttestApi.as_view(),
        name="api-milestones-enrolments-attest",
    ),
    path("trials/feedback/", api_programs.FeedbackCreateApi.as_view(), name="api-trials-feedback"),
]
