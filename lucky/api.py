"""Lucky money API (/api/v1/lucky/…): thin views over lucky.services and lucky.selectors."""

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.models import Campaign
from common.api import ERROR, MoneyField
from common.idempotency import idempotent

from . import errors, limits, selectors, services
from .models import LuckyGroup, LuckyPacket, LuckyShare


class LuckyShareOutput(serializers.ModelSerializer):
    grabbed_by = serializers.IntegerField(source="grabbed_by_id")
    grabber_name = serializers.CharField(source="grabbed_by.username")

    class Meta:
        model = LuckyShare
        fields = ["amount", "grabbed_by", "grabber_name", "grabbed_at", "best_luck"]


class LuckyPacketOutput(serializers.ModelSerializer):
    sender = serializers.IntegerField(source="sender_id")
    group = serializers.IntegerField(source="group_id", allow_null=True)
    recipient = serializers.IntegerField(source="recipient_id", allow_null=True)
    grabbed_count = serializers.SerializerMethodField()
    mine = serializers.SerializerMethodField(help_text="The share the caller grabbed, if any")
    shares = serializers.SerializerMethodField(
        help_text="Who grabbed what: shown to the sender and to those who grabbed; never the free shares' amounts"
    )

    class Meta:
        model = LuckyPacket
        fields = [
            "id",
            "sender",
            "group",
            "recipient",
            "kind",
            "total",
            "share_count",
            "message",
            "campaign",
            "status",
            "created_at",
            "expires_at",
            "finished_at",
            "returned_amount",
            "grabbed_count",
            "mine",
            "shares",
        ]

    def _viewer(self):
        return self.context["request"].user

    def get_grabbed_count(self, packet) -> int:
        return packet.shares.filter(grabbed_by__isnull=False).count()

    @extend_schema_field(LuckyShareOutput(allow_null=True))
    def get_mine(self, packet):
        share = packet.shares.filter(grabbed_by=self._viewer()).select_related("grabbed_by").first()
        return LuckyShareOutput(share).data if share else None

    @extend_schema_field(LuckyShareOutput(many=True))
    def get_shares(self, packet):
        return LuckyShareOutput(selectors.shares_shown_to(packet, self._viewer()), many=True).data


class LuckyReceivedOutput(LuckyShareOutput):
    packet = LuckyPacketOutput()

    class Meta(LuckyShareOutput.Meta):
        fields = ["packet", *LuckyShareOutput.Meta.fields]


PACKET_ERRORS = {400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR}


class PacketCreateApi(APIView):
    class LuckyPacketCreateInput(serializers.Serializer):
        kind = serializers.ChoiceField(choices=LuckyPacket.Kind.choices)
        total = MoneyField(positive=True)
        share_count = serializers.IntegerField(min_value=0, max_value=10_000)
        message = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")
        group_id = serializers.IntegerField(min_value=1, required=False, help_text="A group the caller belongs to")
        recipient_id = serializers.IntegerField(min_value=1, required=False, help_text="Or one person")
        campaign_id = serializers.IntegerField(
            min_value=1,
            required=False,
            help_text="Send spendable red packets of this platform lucky-money campaign instead of cash: each grabbed "
            "share becomes a packet usable at the campaign's merchants",
        )

        def validate(self, data):
            if ("group_id" in data) == ("recipient_id" in data):
                raise serializers.ValidationError(errors.GROUP_OR_RECIPIENT, code="group_or_recipient")
            return data

    @extend_schema(
        operation_id="lucky_packets_create",
        summary="Send a lucky packet to a group or one person, from the caller's cash wallet",
        request=LuckyPacketCreateInput,
        responses={201: LuckyPacketOutput, **PACKET_ERRORS, 409: ERROR, 413: ERROR, 422: ERROR, 429: ERROR},
        description="429 `rate_limited` past LUCKY_SEND_RATE sends per account or IP.",
    )
    @idempotent
    def post(self, request):
        limits.send_rate_check(request)
        data = self.LuckyPacketCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        body = data.validated_data
        group = recipient = None
        if "group_id" in body:
            group = selectors.groups_of(request.user).filter(pk=body["group_id"]).first()
            if group is None:
                raise errors.LuckyNotFound(errors.GROUP_NOT_FOUND, code="group_not_found")
        else:
            recipient = get_user_model().objects.filter(pk=body["recipient_id"], is_active=True).first()
            if recipient is None:
                raise errors.LuckyNotFound(errors.RECIPIENT_NOT_FOUND, code="recipient_not_found")
        campaign = None
        if "campaign_id" in body:
            campaign = Campaign.objects.filter(pk=body["campaign_id"]).first()
            if campaign is None:
                raise errors.LuckyNotFound(errors.NOT_A_LUCKY_CAMPAIGN, code="campaign_not_found")
        packet = services.packet_send(
            campaign=campaign,
            sender=request.user,
            kind=body["kind"],
            total=body["total"],
            share_count=body["share_count"],
            message=body["message"],
            group=group,
            recipient=recipient,
        )
        return Response(LuckyPacketOutput(packet, context={"request": request}).data, status=status.HTTP_201_CREATED)


def _packet(request, packet_id: int) -> LuckyPacket:
    """The caller's packet (sent, addressed to them, or of their group); anyone else's is a 404."""
    packet = selectors.packets_visible_to(request.user).filter(pk=packet_id).first()
    if packet is None:
        raise errors.LuckyNotFound(errors.PACKET_NOT_FOUND)
    return packet


class PacketDetailApi(APIView):
    @extend_schema(operation_id="lucky_packets_retrieve", responses={200: LuckyPacketOutput, 401: ERROR, 404: ERROR})
    def get(self, request, packet_id: int):
        return Response(LuckyPacketOutput(_packet(request, packet_id), context={"request": request}).data)


class PacketGrabApi(APIView):
    @extend_schema(
        operation_id="lucky_packets_grab",
        summary="Grab a share (a repeat returns the same share)",
        request=None,
        responses={200: LuckyShareOutput, 401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR, 410: ERROR, 429: ERROR},
        description="409 `all_grabbed` when every share is taken; 409 `daily_receive_limit_reached` when the share "
        "would take the caller past LUCKY_DAILY_RECEIVE_LIMIT today (it is left for others); 410 `packet_expired` "
        "after 24 h; 429 `rate_limited` past LUCKY_GRAB_RATE grabs per account or IP. A grab needs no "
        "Idempotency-Key: each person holds at most one share of a packet, and grabbing again returns it.",
    )
    def post(self, request, packet_id: int):
        limits.grab_rate_check(request)
        share = services.packet_grab(packet=_packet(request, packet_id), user=request.user)
        return Response(LuckyShareOutput(share).data)


class PacketsSentApi(ListAPIView):
    serializer_class = LuckyPacketOutput

    @extend_schema(
        operation_id="lucky_packets_sent", responses={200: LuckyPacketOutput(many=True), 400: ERROR, 401: ERROR}
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.packets_sent_by(self.request.user)


class SharesReceivedApi(ListAPIView):
    serializer_class = LuckyReceivedOutput

    @extend_schema(
        operation_id="lucky_packets_received", responses={200: LuckyReceivedOutput(many=True), 400: ERROR, 401: ERROR}
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.shares_received_by(self.request.user)


class LuckyGroupOutput(serializers.ModelSerializer):
    owner = serializers.IntegerField(source="owner_id")
    members = serializers.SerializerMethodField()

    class Meta:
        model = LuckyGroup
        fields = ["id", "name", "owner", "invite_token", "created_at", "members"]

    def get_members(self, group) -> list[int]:
        return list(group.memberships.order_by("joined_at", "pk").values_list("user_id", flat=True))


class GroupListCreateApi(APIView):
    class LuckyGroupCreateInput(serializers.Serializer):
        name = serializers.CharField(max_length=60)

    @extend_schema(operation_id="lucky_groups_list", responses={200: LuckyGroupOutput(many=True), 401: ERROR})
    def get(self, request):
        return Response(LuckyGroupOutput(selectors.groups_of(request.user), many=True).data)

    @extend_schema(
        operation_id="lucky_groups_create",
        request=LuckyGroupCreateInput,
        responses={201: LuckyGroupOutput, 400: ERROR, 401: ERROR},
    )
    def post(self, request):
        data = self.LuckyGroupCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        group = services.group_create(owner=request.user, name=data.validated_data["name"])
        return Response(LuckyGroupOutput(group).data, status=status.HTTP_201_CREATED)


class GroupDetailApi(APIView):
    @extend_schema(operation_id="lucky_groups_retrieve", responses={200: LuckyGroupOutput, 401: ERROR, 404: ERROR})
    def get(self, request, group_id: int):
        return Response(LuckyGroupOutput(get_object_or_404(selectors.groups_of(request.user), pk=group_id)).data)


class GroupLeaveApi(APIView):
    @extend_schema(
        operation_id="lucky_groups_leave",
        summary="Leave a group (its owner cannot)",
        request=None,
        responses={204: None, 401: ERROR, 404: ERROR, 409: ERROR},
        description="409 `owner_cannot_leave` for the group's owner; 404 `group_not_found` for a group the caller is "
        "not in. Packets the caller sent stay in the room and still return to them on expiry.",
    )
    def post(self, request, group_id: int):
        group = selectors.groups_of(request.user).filter(pk=group_id).first()
        if group is None:
            raise errors.LuckyNotFound(errors.GROUP_NOT_FOUND, code="group_not_found")
        services.group_leave(group=group, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class GroupJoinApi(APIView):
    class LuckyGroupJoinInput(serializers.Serializer):
        invite_token = serializers.CharField(max_length=64)

    @extend_schema(
        operation_id="lucky_groups_join",
        summary="Join a group through its invitation link's token",
        request=LuckyGroupJoinInput,
        responses={200: LuckyGroupOutput, 400: ERROR, 401: ERROR, 404: ERROR},
    )
    def post(self, request):
        data = self.LuckyGroupJoinInput(data=request.data)
        data.is_valid(raise_exception=True)
        group = services.group_join(user=request.user, invite_token=data.validated_data["invite_token"])
        return Response(LuckyGroupOutput(group).data)
