from django.urls import path

from . import api, views

app_name = "reports"

urlpatterns = [
    path("metrics", views.metrics, name="metrics"),
]

api_urlpatterns = [
    path("campaigns/<int:campaign_id>/report/", api.CampaignReportApi.as_view(), name="api-campaigns-report"),
    path("reports/campaigns/", api.CampaignReportsApi.as_view(), name="api-reports-campaigns"),
]
