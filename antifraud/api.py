"""The shopping-trail events API: merchants' servers and shoppers' apps report the steps before an order."""

from django.db import transaction
from django.utils.translation import gettext as _
from django_ratelimit.core import is_ratelimited
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from accounts.selectors import merchant_of
from common.api import ERROR
from common.errors import ApplicationError, NotFound

from .errors import TrailSessionNotFound
from .models import TrailEvent
from .trail import SESSION_ID, merchant_session_key, shopper_session_key, trail_event_record

EVENTS_RATE = "240/m"


class TrailEventsApi(APIView):
    class TrailEventsInputSerializer(serializers.Serializer):
        class EventInput(serializers.Serializer):
            event_id = serializers.RegexField(
                SESSION_ID, help_text="Your unique id of this step (8–64 of A-Za-z0-9_-): a replay is recorded once"
            )
            kind = serializers.ChoiceField(choices=TrailEvent.Kind.choices)
            sku = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")

        session_id = serializers.RegexField(SESSION_ID, help_text="The shopping session (8–64 of A-Za-z0-9_-)")
        shopper_id = serializers.IntegerField(
            min_value=1, required=False, help_text="Required from a merchant's server; a shopper's app omits it"
        )
        events = EventInput(many=True, allow_empty=False, max_length=50)

    class TrailEventsOutputSerializer(serializers.Serializer):
        recorded = serializers.IntegerField(help_text="New steps recorded")
        duplicates = serializers.IntegerField(help_text="Steps already recorded (replays), ignored")

    @extend_schema(
        operation_id="trail_events_create",
        summary="Report shopping steps (browse, compare price, add to cart, checkout) of a session",
        description=(
            "The server stamps each step's time. Pass the same session_id as `session_id` when you record the order "
            "(POST /api/v1/orders/), so its trail is judged. A session belongs to the first shopper reported in it: "
            "steps for another shopper's session are refused with session_not_found (404). Replayed event ids are "
            "ignored. rate_limited (429) above 240 requests a minute."
        ),
        request=TrailEventsInputSerializer,
        responses={200: TrailEventsOutputSerializer, 400: ERROR, 401: ERROR, 404: ERROR, 429: ERROR},
        examples=[
            OpenApiExample(
                "Two steps",
                value={
                    "session_id": "s-8f2a61c0",
                    "shopper_id": 7,
                    "events": [
                        {"event_id": "e-0001-browse", "kind": "browse", "sku": "FR-01"},
                        {"event_id": "e-0002-cart", "kind": "add_to_cart", "sku": "FR-01"},
                    ],
                },
                request_only=True,
            )
        ],
    )
    def post(self, request):
        if is_ratelimited(request, group="antifraud.trail", key="user", rate=EVENTS_RATE, increment=True):
            raise ApplicationError(_("Too many trail requests; slow down."), code="rate_limited", status=429)
        data = self.TrailEventsInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        body = data.validated_data
        merchant = merchant_of(request.user)
        if merchant is not None:
            if "shopper_id" not in body:
                raise ApplicationError(_("shopper_id is required from a merchant."), code="shopper_id_required")
            shopper = User.objects.filter(pk=body["shopper_id"], is_active=True).first()
            if shopper is None:
                raise NotFound(_("No such shopper."), code="shopper_not_found")
            key = merchant_session_key(merchant.pk, body["session_id"])
        else:
            if body.get("shopper_id", request.user.pk) != request.user.pk:
                raise TrailSessionNotFound(_("No such session for this shopper."))
            shopper = request.user
            key = shopper_session_key(shopper.pk, body["session_id"])
        with transaction.atomic():
            results = [
                trail_event_record(key=key, user=shopper, event_id=e["event_id"], kind=e["kind"], sku=e["sku"])
                for e in body["events"]
            ]
        duplicates = sum(r.duplicate for r in results)
        return Response({"recorded": len(results) - duplicates, "duplicates": duplicates})
