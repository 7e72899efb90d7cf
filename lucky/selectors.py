"""Reads of lucky money. A packet is visible to its sender, its one recipient, and its group's members; to anyone
else it does not exist (a 404)."""

from decimal import Decimal

from django.db.models import Q, QuerySet

from .models import LuckyGroup, LuckyPacket, LuckyShare


def packets_visible_to(user) -> QuerySet[LuckyPacket]:
    return LuckyPacket.objects.filter(Q(sender=user) | Q(recipient=user) | Q(group__memberships__user=user)).distinct()


def packets_sent_by(user) -> QuerySet[LuckyPacket]:
    return LuckyPacket.objects.filter(sender=user).order_by("-created_at", "-pk")


def shares_received_by(user) -> QuerySet[LuckyShare]:
    return LuckyShare.objects.filter(grabbed_by=user).select_related("packet", "packet__sender").order_by("-grabbed_at")


def groups_of(user) -> QuerySet[LuckyGroup]:
    return LuckyGroup.objects.filter(memberships__user=user).order_by("pk")


def shares_shown_to(packet: LuckyPacket, user) -> list[LuckyShare]:
    """Who grabbed what, in grab order: for the sender and for those who grabbed a share (as the room shows it).
    A member who has not grabbed sees only the counts; nobody sees the amounts of shares still free (they would tell
    the next grabber what they are about to get)."""
    grabbed = list(
        packet.shares.filter(grabbed_by__isnull=False).select_related("grabbed_by").order_by("grabbed_at", "pk")
    )
    if packet.sender_id == user.pk or any(s.grabbed_by_id == user.pk for s in grabbed):
        return grabbed
    return []


def packet_counts(packet: LuckyPacket) -> dict:
    grabbed = list(packet.shares.filter(grabbed_by__isnull=False).values_list("amount", flat=True))
    return {"grabbed_count": len(grabbed), "grabbed_amount": sum(grabbed, Decimal("0.00"))}


def room_packets(group: LuckyGroup, *, changed_since=None) -> QuerySet[LuckyPacket]:
    """A group room's packets, newest first; with `changed_since`, only those sent, grabbed from, or closed (all
    grabbed, expired) after that moment."""
    packets = LuckyPacket.objects.filter(group=group).select_related("sender")
    if changed_since is not None:
        packets = packets.filter(
            Q(created_at__gt=changed_since) | Q(finished_at__gt=changed_since) | Q(shares__grabbed_at__gt=changed_since)
        ).distinct()
    return packets.order_by("-created_at", "-pk")


def group_members(group: LuckyGroup) -> list:
    return [m.user for m in group.memberships.select_related("user").order_by("joined_at", "pk")]
