"""What a group room shows of each packet to one viewer: the pages' view of lucky.selectors (no writes here).

Who grabbed what follows `selectors.shares_shown_to` (the sender and those who grabbed see it; the others see the
counts), so the page never tells more than the API does."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.views import masked
from common.money import format_cny

from . import selectors
from .models import LuckyPacket


def person(user, viewer) -> str:
    """How the room names someone: "you" for the viewer, the masked name (138****0001) for the others."""
    return _("You") if user.pk == viewer.pk else masked(user)


@dataclass
class GrabLine:
    who: str
    amount: str
    best_luck: bool
    at: datetime


@dataclass
class PacketEntry:
    packet: LuckyPacket
    sender: str
    total: str
    grabbed_count: int
    state: str  # open | grabbed_out | expired
    can_grab: bool
    mine: str = ""  # the viewer's share, formatted, if they grabbed one
    returned: str = ""
    grabs: list[GrabLine] = field(default_factory=list)

    @property
    def dom_id(self) -> str:
        return f"packet-{self.packet.pk}"


def packet_entry(packet: LuckyPacket, viewer, *, now: datetime | None = None) -> PacketEntry:
    now = now or timezone.now()
    shown = selectors.shares_shown_to(packet, viewer)
    counts = selectors.packet_counts(packet)
    mine = next((s for s in shown if s.grabbed_by_id == viewer.pk), None)
    if packet.status == LuckyPacket.Status.OPEN and packet.expires_at <= now:
        state = LuckyPacket.Status.EXPIRED  # past its time; the beat task is about to send the rest back
    else:
        state = packet.status
    return PacketEntry(
        packet=packet,
        sender=person(packet.sender, viewer),
        total=format_cny(packet.total),
        grabbed_count=counts["grabbed_count"],
        state=state,
        can_grab=state == LuckyPacket.Status.OPEN and mine is None,
        mine=format_cny(mine.amount) if mine else "",
        returned=format_cny(packet.returned_amount) if packet.returned_amount > Decimal("0") else "",
        grabs=[
            GrabLine(
                who=person(s.grabbed_by, viewer), amount=format_cny(s.amount), best_luck=s.best_luck, at=s.grabbed_at
            )
            for s in shown
        ],
    )


def room_timeline(group, viewer, *, changed_since: datetime | None = None, limit: int = 30) -> list[PacketEntry]:
    now = timezone.now()
    packets = selectors.room_packets(group, changed_since=changed_since)[:limit]
    return [packet_entry(p, viewer, now=now) for p in packets]
