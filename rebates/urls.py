"""Every route of rebates: the wallet's pages (namespace "rebates", at the site root) and the API (under /api/v1/):
rebates and wallet, payouts (with WeChat Pay's notifications), webhooks."""

from django.urls import path

from . import api, views
from .payouts import api as api_payouts
from .webhooks import api as api_webhooks

app_name = "rebates"
urlpatterns = [
    path("wallet/", views.wallet, name="wallet"),
    path("wallet/withdraw/", views.wallet_withdraw, name="withdraw"),
]

api_urlpatterns = [
    path("rebates/", api.RebateListApi.as_view(), name="api-rebates"),
    path("wallet/", api.WalletApi.as_view(), name="api-wallet"),
    path("payouts/", api_payouts.PayoutListCreateApi.as_view(), name="api-payouts"),
    path("payouts/notify/wechat/", api_payouts.PayoutWechatNotifyApi.as_view(), name="api-payouts-notify-wechat"),
    path("webhooks/endpoints/", api_webhooks.WebhookEndpointListCreateApi.as_view(), name="api-webhook-endpoints"),
    path(
        "webhooks/endpoints/<int:endpoint_id>/",
        api_webhooks.WebhookEndpointDetailApi.as_view(),
        name="api-webhook-endpoint",
    ),
    path(
        "webhooks/endpoints/<int:endpoint_id>/rotate-secret/",
        api_webhooks.WebhookEndpointRotateSecretApi.as_view(),
        name="api-webhook-endpoint-rotate-secret",
    ),
    path("webhooks/deliveries/", api_webhooks.WebhookDeliveryListApi.as_view(), name="api-webhook-deliveries"),
    path(
        "webhooks/deliveries/<int:delivery_id>/retry/",
        api_webhooks.WebhookDeliveryRetryApi.as_view(),
        name="api-webhook-delivery-retry",
    ),
]
