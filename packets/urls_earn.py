"""Shopper pages that hand out packets outside an order, and the order trace. Mounted at the site root:
config/urls.py → path("", include("packets.urls_earn"))."""

from django.urls import path

from rebates import views as rebates_views

from . import views_earn

app_name = "earn"
urlpatterns = [
    path("claim/", views_earn.claim_enter, name="claim"),
    path("claim/campaign/<int:campaign_id>/", views_earn.claim_campaign, name="claim_campaign"),
    path("claim/<str:code>/", views_earn.claim_code, name="claim_code"),
    path("checkin/", views_earn.checkin, name="checkin"),
    path("share/", views_earn.share, name="share"),
    path("orders/<int:order_id>/trace/", rebates_views.order_trace, name="order_trace"),
]
