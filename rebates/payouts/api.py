from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import ERROR, MoneyField
from common.idempotency import idempotent

from . import services as payouts
from .models import Payout


class PayoutOutput(serializers.ModelSerializer):
    currency = serializers.SerializerMethodField()
    package_info = serializers.SerializerMethodField(
        help_text="Set while WeChat waits for the user to confirm receipt (wechat_state WAIT_USER_CONFIRM): pass it "
        "as `package` to wx.requestMerchantTransfer (mini program) or WeixinJSBridge 'requestMerchantTransfer' "
        "(WeChat web page), with our mchId and appId. null otherwise."
    )

    class Meta:
        model = Payout
        fields = [
            "id",
            "amount",
            "currency",
            "channel",
            "status",
            "out_bill_no",
            "wechat_state",
            "package_info",
            "fail_reason",
            "created_at",
            "completed_at",
        ]

    def get_currency(self, payout) -> str:
        return "CNY"

    def get_package_info(self, payout) -> str | None:
        return payout.package_info if payout.awaiting_user_confirmation else None


class PayoutListCreateApi(ListAPIView):
    """A shopper's withdrawals from the cash wallet."""

    serializer_class = PayoutOutput

    class PayoutInput(serializers.Serializer):
        amount = MoneyField(positive=True, help_text='CNY as a decimal string, e.g. "12.50"')
        channel = serializers.ChoiceField(choices=Payout.Channel.choices)

    def get_queryset(self):
        return Payout.objects.filter(beneficiary=self.request.user).order_by("-created_at", "-pk")

    @extend_schema(operation_id="payouts_list", responses={200: PayoutOutput(many=True), 400: ERROR, 401: ERROR})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="payouts_create",
        summary="Withdraw cash from the wallet to WeChat balance (零钱)",
        description=(
            "Reserves the amount from the cash wallet at once (409 insufficient_funds when it cannot cover it) and "
            "pays it out through WeChat Pay in the background; poll the list for the final status."
        ),
        request=PayoutInput,
        responses={
            201: PayoutOutput,
            400: ERROR,
            401: ERROR,
            403: ERROR,
            409: ERROR,
            413: ERROR,
            422: ERROR,
            503: ERROR,
        },
        examples=[
            OpenApiExample("Withdraw 12.50", value={"amount": "12.50", "channel": "wechat_balance"}, request_only=True)
        ],
    )
    @idempotent
    def post(self, request):
        data = self.PayoutInput(data=request.data)
        data.is_valid(raise_exception=True)
        payout = payouts.payout_request(
            user=request.user, amount=data.validated_data["amount"], channel=data.validated_data["channel"]
        )
        return Response(PayoutOutput(payout).data, status=status.HTTP_201_CREATED)


class PayoutWechatNotifyApi(APIView):
    """WeChat Pay's transfer-bill notification (MCHTRANSFER.BILL.FINISHED). Authenticated by its signature only."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="payouts_notify_wechat",
        summary="WeChat Pay notification (called by WeChat, signed with the platform key)",
        request=None,
        responses={
            204: OpenApiResponse(description="Accepted (also for a replay of an applied notification)"),
            400: ERROR,
            401: ERROR,
            404: ERROR,
            503: ERROR,
        },
    )
    def post(self, request):
        payouts.payout_notification_apply(headers=request.headers, body=request.body)
        return Response(status=status.HTTP_204_NO_CONTENT)
