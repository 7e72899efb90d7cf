"""Webhooks API for merchant admins: register endpoints, read the delivery log, send a delivery again.

Thin views: input serializers for types, `rebates/webhooks/services.py` for every rule and write. docs/WEBHOOKS.md."""

import json

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import MerchantStaff
from common.api import ERROR, ID_FILTER_SCHEMA, id_filter
from common.errors import ApplicationError, NotFound

from . import services as webhooks
from .models import EventType, WebhookDelivery, WebhookEndpoint


class MerchantAdminOnly:
    """Only a merchant's admins manage its webhooks (the secret signs what their systems trust)."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        membership = request.user.memberships.select_related("merchant").order_by("pk").first()
        if membership is None or membership.role != MerchantStaff.Role.ADMIN:
            raise ApplicationError(
                _("Only a merchant's admins manage its webhooks."), code="merchant_admin_required", status=403
            )
        self.merchant = membership.merchant


class EndpointOutput(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.ChoiceField(choices=EventType.choices))

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "events", "description", "active", "created_at", "updated_at"]


class EndpointWithSecretOutput(EndpointOutput):
    secret = serializers.CharField(help_text="Signs every delivery (X-Rebate-Signature). Shown only here: keep it.")

    class Meta(EndpointOutput.Meta):
        fields = [*EndpointOutput.Meta.fields, "secret"]


class DeliveryOutput(serializers.ModelSerializer):
    event_id = serializers.SerializerMethodField()
    payload = serializers.SerializerMethodField()

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint_id",
            "event_id",
            "event_type",
            "state",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "last_status_code",
            "last_error",
            "created_at",
            "delivered_at",
            "payload",
        ]

    def get_event_id(self, delivery) -> str:
        return f"evt_{delivery.event_id.hex}"

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_payload(self, delivery):
        return json.loads(delivery.body)


ENDPOINT_ERRORS = {400: ERROR, 401: ERROR, 403: ERROR}
NOT_FOUND = {404: ERROR}


def _endpoint(merchant, endpoint_id: int) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id, merchant=merchant).first()
    if endpoint is None:
        raise NotFound(_("No such webhook endpoint."), code="webhook_endpoint_not_found")
    return endpoint


class WebhookEndpointListCreateApi(MerchantAdminOnly, ListAPIView):
    """The merchant's webhook endpoints."""

    serializer_class = EndpointOutput

    class EndpointInput(serializers.Serializer):
        url = serializers.URLField(max_length=500, help_text="http(s); public hosts only in production")
        events = serializers.ListField(
            child=serializers.ChoiceField(choices=EventType.choices), allow_empty=False, max_length=10
        )
        description = serializers.CharField(max_length=200, allow_blank=True, default="")
        active = serializers.BooleanField(default=True)

    def get_queryset(self):
        return WebhookEndpoint.objects.filter(merchant=self.merchant).order_by("-pk")

    @extend_schema(
        operation_id="webhook_endpoints_list",
        responses={200: EndpointOutput(many=True), 400: ERROR, 401: ERROR, 403: ERROR},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="webhook_endpoints_create",
        summary="Register a webhook endpoint",
        description=(
            'Events are POSTed as JSON with `X-Rebate-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">` signed '
            "with the secret returned here (only here). 400 `invalid` (see details), `invalid_webhook_url`, "
            "`private_webhook_host`, `invalid_events`; 403 `merchant_admin_required`."
        ),
        request=EndpointInput,
        responses={201: EndpointWithSecretOutput, **ENDPOINT_ERRORS},
        examples=[
            OpenApiExample(
                "Rebates and payouts",
                value={
                    "url": "https://shop.example.com/hooks/rebates",
                    "events": ["rebate.credited", "rebate.reversed", "payout.succeeded", "payout.failed"],
                    "description": "ERP",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request):
        data = self.EndpointInput(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = webhooks.webhook_endpoint_create(merchant=self.merchant, **data.validated_data)
        return Response(EndpointWithSecretOutput(endpoint).data, status=status.HTTP_201_CREATED)


class WebhookEndpointDetailApi(MerchantAdminOnly, APIView):
    class EndpointChangeInput(serializers.Serializer):
        url = serializers.URLField(max_length=500, required=False)
        events = serializers.ListField(
            child=serializers.ChoiceField(choices=EventType.choices), allow_empty=False, max_length=10, required=False
        )
        description = serializers.CharField(max_length=200, allow_blank=True, required=False)
        active = serializers.BooleanField(required=False)

    @extend_schema(
        operation_id="webhook_endpoints_retrieve", responses={200: EndpointOutput, 401: ERROR, 403: ERROR, **NOT_FOUND}
    )
    def get(self, request, endpoint_id: int):
        return Response(EndpointOutput(_endpoint(self.merchant, endpoint_id)).data)

    @extend_schema(
        operation_id="webhook_endpoints_update",
        summary="Change an endpoint (url, events, description, active)",
        description="Switching an endpoint off makes its pending deliveries fail at their next attempt.",
        request=EndpointChangeInput,
        responses={200: EndpointOutput, **ENDPOINT_ERRORS, **NOT_FOUND},
    )
    def patch(self, request, endpoint_id: int):
        endpoint = _endpoint(self.merchant, endpoint_id)
        data = self.EndpointChangeInput(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = webhooks.webhook_endpoint_update(endpoint=endpoint, **data.validated_data)
        return Response(EndpointOutput(endpoint).data)

    @extend_schema(
        operation_id="webhook_endpoints_delete",
        summary="Delete an endpoint and its delivery log",
        responses={204: OpenApiResponse(description="Deleted"), 401: ERROR, 403: ERROR, **NOT_FOUND},
    )
    def delete(self, request, endpoint_id: int):
        webhooks.webhook_endpoint_delete(endpoint=_endpoint(self.merchant, endpoint_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookEndpointRotateSecretApi(MerchantAdminOnly, APIView):
    @extend_schema(
        operation_id="webhook_endpoints_rotate_secret",
        summary="Replace the endpoint's signing secret",
        description="Every attempt from now on (pending deliveries too) is signed with the new secret.",
        request=None,
        responses={200: EndpointWithSecretOutput, 401: ERROR, 403: ERROR, **NOT_FOUND},
    )
    def post(self, request, endpoint_id: int):
        endpoint = webhooks.webhook_endpoint_rotate_secret(endpoint=_endpoint(self.merchant, endpoint_id))
        return Response(EndpointWithSecretOutput(endpoint).data)


class WebhookDeliveryListApi(MerchantAdminOnly, ListAPIView):
    """The delivery log of the merchant's endpoints, newest first."""

    serializer_class = DeliveryOutput

    def get_queryset(self):
        qs = WebhookDelivery.objects.filter(endpoint__merchant=self.merchant).order_by("-created_at", "-pk")
        params = self.request.query_params
        endpoint_id = id_filter(params, "endpoint", _("endpoint must be an endpoint id."))
        if endpoint_id is not None:
            qs = qs.filter(endpoint_id=endpoint_id)
        if params.get("state"):
            if params["state"] not in WebhookDelivery.State.values:
                raise ApplicationError(
                    _("Unknown state %(state)s.") % {"state": repr(params["state"])}, code="invalid_filter"
                )
            qs = qs.filter(state=params["state"])
        if params.get("event_type"):
            if params["event_type"] not in EventType.values:
                raise ApplicationError(
                    _("Unknown event type %(event_type)s.") % {"event_type": repr(params["event_type"])},
                    code="invalid_filter",
                )
            qs = qs.filter(event_type=params["event_type"])
        return qs

    @extend_schema(
        operation_id="webhook_deliveries_list",
        parameters=[
            OpenApiParameter("endpoint", ID_FILTER_SCHEMA, description="Only this endpoint's deliveries"),
            OpenApiParameter("state", str, enum=WebhookDelivery.State.values),
            OpenApiParameter("event_type", str, enum=EventType.values),
        ],
        responses={200: DeliveryOutput(many=True), 400: ERROR, 401: ERROR, 403: ERROR},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class WebhookDeliveryRetryApi(MerchantAdminOnly, APIView):
    @extend_schema(
        operation_id="webhook_deliveries_retry",
        summary="Send a delivery again now (same event id and body)",
        description="Failed, pending or already delivered (a replay): a fresh budget of attempts starts now.",
        request=None,
        responses={202: DeliveryOutput, 401: ERROR, 403: ERROR, **NOT_FOUND},
    )
    def post(self, request, delivery_id: int):
        delivery = webhooks.webhook_delivery_of(merchant=self.merchant, delivery_id=delivery_id)
        webhooks.webhook_deliveries_retry(delivery_ids=[delivery.pk])
        delivery.refresh_from_db()
        return Response(DeliveryOutput(delivery).data, status=status.HTTP_202_ACCEPTED)
