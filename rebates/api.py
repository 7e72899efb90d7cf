from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import ERROR, ID_FILTER_SCHEMA, id_filter
from common.errors import ApplicationError

from .models import Rebate
from .selectors import rebates_visible_to, wallet_of


class RebateOutput(serializers.ModelSerializer):
    order_id = serializers.IntegerField(source="redemption.order_id")
    order_no = serializers.CharField(source="redemption.order_no")

    class Meta:
        model = Rebate
        fields = [
            "id",
            "order_id",
            "order_no",
            "role",
            "amount",
            "currency",
            "form",
            "status",
            "hold_until",
            "held_for_review",
            "reversed_amount",
            "created_at",
        ]


class RebateListApi(ListAPIView):
    serializer_class = RebateOutput

    @extend_schema(
        operation_id="rebates_list",
        parameters=[
            OpenApiParameter("order", ID_FILTER_SCHEMA, description="Only rebates caused by this order id"),
            OpenApiParameter("status", str, enum=[s.value for s in Rebate.Status]),
        ],
        responses={200: RebateOutput(many=True), 400: ERROR},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        qs = rebates_visible_to(self.request.user)
        params = self.request.query_params
        order_id = id_filter(params, "order", _("order must be an order id."))
        if order_id is not None:
            qs = qs.filter(redemption__order_id=order_id)
        if params.get("status"):
            if params["status"] not in Rebate.Status.values:
                raise ApplicationError(
                    _("Unknown status %(status)s.") % {"status": repr(params["status"])}, code="invalid_filter"
                )
            qs = qs.filter(status=params["status"])
        return qs


WalletOutput = inline_serializer(
    "Wallet",
    {"owner": serializers.ChoiceField(["shopper", "merchant"]), "balances": serializers.DictField()},
)


class WalletApi(APIView):
    @extend_schema(
        operation_id="wallet_retrieve",
        responses={200: WalletOutput},
        examples=[
            OpenApiExample(
                "Shopper",
                value={
                    "owner": "shopper",
                    "balances": {
                        "cash": "2.50",
                        "points": 0,
                        "cash_pending": "0.00",
                        "points_pending": 0,
                        "debt": "0.00",
                        "coupons": "0.00",
                    },
                },
            )
        ],
    )
    def get(self, request):
        return Response(wallet_of(request.user))
