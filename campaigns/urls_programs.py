"""Mounted under /api/v1/ by config/urls.py: path("", include("campaigns.urls_programs"))."""

from django.urls import path

from . import api_programs

urlpatterns = [
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
