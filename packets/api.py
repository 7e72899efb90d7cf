from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from accounts.selectors import merchant_of
from antifraud.context import api_order_keys
from antifraud.devices import API_DEVICE_ID, api_fingerprint
from antifraud.trail import SESSION_ID
from common.api import ERROR, DateTimeField, MoneyField
from common.errors import ApplicationError, NotFound
from common.idempotency import idempotent

from . import services
from .errors import not_issued_message
from .models import Order, Packet
from .selectors import order_rebates, orders_visible_to, packets_visible_to


class PacketOutput(serializers.ModelSerializer):
    campaign = serializers.CharField(source="campaign.name")

    class Meta:
        model = Packet
        fields = ["id", "code", "campaign", "amount", "min_spend", "categories", "status", "issued_at", "expires_at"]


class OrderRebateOutput(serializers.Serializer):
    role = serializers.CharField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()
    form = serializers.CharField()
    status = serializers.CharField()


class NotIssuedOutput(serializers.Serializer):
    campaign_id = serializers.IntegerField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, help_text="The packet the order earned")
    code = serializers.CharField(
        help_text="Why it was not issued: budget_exhausted, daily_budget_cap_reached, campaign_limit_reached, "
        "per_user_limit_reached, or an anti-fraud limit (account_daily_limit, ip_daily_limit, device_daily_limit, "
        "ip_too_soon, device_too_soon, device_banned)"
    )
    message = serializers.SerializerMethodField()

    def get_message(self, row) -> str:
        return not_issued_message(row.code)


class OrderOutput(serializers.ModelSerializer):
    class LineOutput(serializers.Serializer):
        sku = serializers.CharField()
        name = serializers.CharField()
        category = serializers.CharField()
        quantity = serializers.IntegerField()
        unit_price = serializers.DecimalField(max_digits=14, decimal_places=2)

    lines = LineOutput(many=True)
    packet_code = serializers.CharField(source="packet.code", allow_null=True, default=None)
    earned_packets = PacketOutput(many=True)
    not_issued = NotIssuedOutput(
        many=True, help_text="Packets the order earned that a limit or the budget stopped, each with the reason"
    )
    rebate_state = serializers.SerializerMethodField()
    rebates = serializers.SerializerMethodField()
    shopper_id = serializers.IntegerField()

    class Meta:
        model = Order
        fields = [
            "id",
            "order_no",
            "shopper_id",
            "gross_amount",
            "packet_code",
            "discount",
            "points_used",
            "points_discount",
            "amount_paid",
            "channel",
            "created_at",
            "lines",
            "earned_packets",
            "not_issued",
            "rebate_state",
            "rebates",
        ]

    def to_representation(self, order):
        # One consistent read of state and rebates (see order_rebates).
        self._rebates = order_rebates(order)
        return super().to_representation(order)

    def get_rebate_state(self, order) -> str:
        return self._rebates[0]

    @extend_schema_field(OrderRebateOutput(many=True))
    def get_rebates(self, order):
        return OrderRebateOutput(self._rebates[1], many=True).data


class OrderCreateApi(APIView):
    class OrderInputSerializer(serializers.Serializer):
        class LineInput(serializers.Serializer):
            sku = serializers.CharField(max_length=64)
            name = serializers.CharField(max_length=200)
            category = serializers.CharField(max_length=50)
            quantity = serializers.IntegerField(min_value=1, max_value=100_000)
            unit_price = MoneyField(positive=True)

        order_no = serializers.CharField(max_length=64)
        shopper_id = serializers.IntegerField(min_value=1)
        gross_amount = MoneyField()
        packet_code = serializers.CharField(max_length=40, required=False, allow_blank=True)
        lines = LineInput(many=True, allow_empty=False, max_length=200)
        ip = serializers.IPAddressField(
            required=False, allow_null=True, help_text="The shopper's IP as your server saw it (anti-fraud limits)"
        )
        device_id = serializers.RegexField(
            API_DEVICE_ID,
            required=False,
            allow_blank=True,
            help_text="Your id of the shopper's device (6–100 of A-Z a-z 0-9 . _ : -), kept apart from others'",
        )
        session_id = serializers.RegexField(
            SESSION_ID,
            required=False,
            allow_blank=True,
            help_text="The shopping session whose trail events (POST /api/v1/trail/events/) led to this order",
        )
        points = serializers.IntegerField(min_value=0, required=False, default=0, help_text="Points to pay with")
        province = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
        city = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="orders_create",
        summary="Record a paid order; spend its red packet and earn new ones",
        request=OrderInputSerializer,
        responses={
            201: OrderOutput,
            400: ERROR,
            401: ERROR,
            403: ERROR,
            404: ERROR,
            409: ERROR,
            413: ERROR,
            422: ERROR,
        },
        examples=[
            OpenApiExample(
                "Second purchase with a packet",
                value={
                    "order_no": "A-1002",
                    "shopper_id": 7,
                    "gross_amount": "50.00",
                    "packet_code": "7K3M-9QXD-2B4N-HT6W",
                    "lines": [
                        {"sku": "FR-01", "name": "Mango", "category": "fruit", "quantity": 1, "unit_price": "50.00"}
                    ],
                },
                request_only=True,
            )
        ],
    )
    @idempotent
    def post(self, request):
        merchant = merchant_of(request.user)
        if merchant is None:
            raise ApplicationError(_("Only merchant staff can record orders."), code="not_a_merchant", status=403)
        data = self.OrderInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        body = data.validated_data
        shopper = User.objects.filter(pk=body["shopper_id"], is_active=True).first()
        if shopper is None:
            raise NotFound(_("No such shopper."), code="shopper_not_found")
        order = services.order_create(
            merchant=merchant,
            shopper=shopper,
            order_no=body["order_no"],
            lines=[services.LineInput(**line) for line in body["lines"]],
            gross_amount=body["gross_amount"],
            packet_code=body.get("packet_code") or None,
            channel=Order.Channel.API,
            # The shopper's IP only: the caller is the merchant's server, whose own IP would merge every shopper.
            ip=body.get("ip") or None,
            device_fingerprint=api_fingerprint(merchant.pk, body["device_id"]) if body.get("device_id") else None,
            trail_keys=api_order_keys(
                merchant_id=merchant.pk, shopper_id=shopper.pk, session_id=body.get("session_id", "")
            ),
            points=body["points"],
            province=body["province"],
            city=body["city"],
        )
        order = orders_visible_to(request.user).get(pk=order.pk)
        return Response(OrderOutput(order).data, status=status.HTTP_201_CREATED)


class OrderDetailApi(APIView):
    @extend_schema(operation_id="orders_retrieve", responses={200: OrderOutput, 404: ERROR})
    def get(self, request, order_id: int):
        order = get_object_or_404(orders_visible_to(request.user), pk=order_id)
        return Response(OrderOutput(order).data)


class PacketListApi(ListAPIView):
    serializer_class = PacketOutput

    @extend_schema(
        operation_id="packets_list",
        parameters=[OpenApiParameter("status", str, enum=[s.value for s in Packet.Status])],
        responses={200: PacketOutput(many=True), 400: ERROR},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        qs = packets_visible_to(self.request.user).select_related("campaign")
        wanted = self.request.query_params.get("status")
        if wanted:
            if wanted not in Packet.Status.values:
                raise ApplicationError(
                    _("Unknown status %(status)s.") % {"status": repr(wanted)}, code="invalid_filter"
                )
            qs = qs.filter(status=wanted)
        return qs


class OrderRefundApi(APIView):
    class RefundInputSerializer(serializers.Serializer):
        amount = MoneyField(positive=True)
        reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    class RefundOutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        order_id = serializers.IntegerField()
        amount = serializers.DecimalField(max_digits=14, decimal_places=2)
        reason = serializers.CharField()
        created_at = DateTimeField()

    @extend_schema(
        operation_id="orders_refunds_create",
        summary="Refund (part of) an order; the rebates it earned are reversed in proportion",
        request=RefundInputSerializer,
        responses={201: RefundOutputSerializer, **{code: ERROR for code in (400, 401, 403, 404, 409, 413, 422)}},
        examples=[OpenApiExample("Half of a 50.00 order", value={"amount": "25.00", "reason": "one item returned"})],
    )
    @idempotent
    def post(self, request, order_id: int):
        if merchant_of(request.user) is None:
            raise ApplicationError(_("Only merchant staff can refund orders."), code="not_a_merchant", status=403)
        order = get_object_or_404(orders_visible_to(request.user), pk=order_id)
        data = self.RefundInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        refund = services.order_refund(order=order, **data.validated_data)
        return Response(self.RefundOutputSerializer(refund).data, status=status.HTTP_201_CREATED)
