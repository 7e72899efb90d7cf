"""Claiming a batch-generated packet by its code (a card, a CSV line, a link)."""

from django.utils.translation import gettext as _
from django_ratelimit.core import is_ratelimited
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import merchant_of
from antifraud.context import api_shopper_context
from antifraud.devices import API_DEVICE_ID
from antifraud.limits import burst_limited
from common.errors import ApplicationError

from . import batch
from .api import ERROR, PacketOutput
from .models import Packet

# Codes carry 80 random bits, so guessing is hopeless anyway; the limit keeps a script from hammering the lock.
CLAIM_RATE = "30/m"


class PacketClaimApi(APIView):
    class InputSerializer(serializers.Serializer):
        code = serializers.CharField(max_length=40, help_text="As printed; case, spaces and dashes do not matter.")
        device_id = serializers.RegexField(
            API_DEVICE_ID,
            required=False,
            allow_blank=True,
            help_text="The app's install id (6–100 of A-Z a-z 0-9 . _ : -)",
        )

    @extend_schema(
        operation_id="packets_claim",
        summary="Claim an unclaimed red packet by its code",
        description=(
            "Makes the signed-in shopper the packet's holder. Claiming a packet one already holds returns it again "
            "(200). Errors: packet_not_found (404), packet_already_claimed, packet_expired, packet_used, "
            "campaign_not_active, per_user_limit_reached (409), not_a_shopper, device_banned (403), rate_limited "
            "and the campaign's anti-fraud limits ip_daily_limit, device_daily_limit, account_daily_limit, "
            "ip_too_soon, device_too_soon (429)."
        ),
        request=InputSerializer,
        responses={200: PacketOutput, 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR, 429: ERROR},
        examples=[OpenApiExample("Claim", value={"code": "7k3m 9qxd 2b4n ht6w"}, request_only=True)],
    )
    def post(self, request):
        if merchant_of(request.user) is not None:
            raise ApplicationError(_("Merchant staff accounts cannot claim packets."), code="not_a_shopper", status=403)
        if is_ratelimited(request, group="packets.claim", key="user", rate=CLAIM_RATE, increment=True):
            raise ApplicationError(_("Too many claims; try again in a minute."), code="rate_limited", status=429)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        context = api_shopper_context(request, request.user, device_id=data.validated_data.get("device_id", ""))
        if burst_limited(request, group="packets.claim", device=context.device):
            raise ApplicationError(_("Too many claims; try again in a minute."), code="rate_limited", status=429)
        packet = batch.packet_claim(code=data.validated_data["code"], user=request.user, context=context)
        packet = Packet.objects.select_related("campaign").get(pk=packet.pk)
        return Response(PacketOutput(packet).data)
