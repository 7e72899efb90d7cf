"""Mounted under /api/v1/ by config/urls.py: path("", include("rebates.urls_payouts"))."""

from django.urls import path

from . import api_payouts

urlpatterns = [
    path("payouts/", api_payouts.PayoutListCreateApi.as_view(), name="api-payouts"),
    path("payouts/notify/wechat/", api_payouts.PayoutWechatNotifyApi.as_view(), name="api-payouts-notify-wechat"),
]
