"""Mounted under /api/v1/ by config/urls.py: path("", include("rebates.urls_webhooks"))."""

from django.urls import path

from . import api_webhooks

urlpatterns = [
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
