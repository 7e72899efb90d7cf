"""bench/grab.py's `exact` check: true for a packet grabbed out as the replies say, false when the books and the
replies disagree (a share left, a reply that is not the grabbed share)."""

from decimal import Decimal

import pytest

from bench.grab import exactness
from lucky.models import LuckyPacket, LuckyShare
from lucky.services import packet_grab, packet_send
from tests.factories.lucky import family

pytestmark = pytest.mark.django_db


def grabbed_out(members, group, shares: int):
    packet = packet_send(
        sender=members[0], group=group, kind=LuckyPacket.Kind.RANDOM, total=Decimal("1.00"), share_count=shares
    )
    replies = [(m.pk, str(packet_grab(packet=packet, user=m).amount)) for m in members[1 : shares + 1]]
    return packet, replies


def test_a_packet_grabbed_out_as_the_replies_say_is_exact():
    group, members = family(4)
    packet, replies = grabbed_out(members, group, 3)
    assert exactness({packet.pk: replies}, 3) == []


def test_a_share_left_or_a_reply_that_is_not_the_share_is_reported():
    group, members = family(4)
    packet, replies = grabbed_out(members, group, 3)
    assert exactness({packet.pk: replies}, 4)  # four winners expected, three shares exist
    wrong = [(replies[0][0], "9.99"), *replies[1:]]
    assert any("replies" in p for p in exactness({packet.pk: wrong}, 3))
    LuckyShare.objects.filter(packet=packet, grabbed_by=members[3]).delete()
    assert exactness({packet.pk: replies}, 3)
