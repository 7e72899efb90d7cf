"""The per-person daily receive cap (LUCKY_DAILY_RECEIVE_LIMIT): a share that would take a grabber past it is left
for the others, with 409 `daily_receive_limit_reached` and nothing written; the day is the TIME_ZONE's."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from rest_framework.test import APIClient

from lucky.models import LuckyPacket, LuckyShare
from lucky.services import packet_grab, packet_send
from rebates.models import Entry, LedgerTransaction
from tests.factories.lucky import cash_of, family

D = Decimal
pytestmark = pytest.mark.django_db


def api_of(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def equal_packet(group, sender, total: str, shares: int = 1) -> LuckyPacket:
    return packet_send(sender=sender, group=group, kind=LuckyPacket.Kind.EQUAL, total=D(total), share_count=shares)


def rows() -> tuple[int, ...]:
    return (
        LedgerTransaction.objects.count(),
        Entry.objects.count(),
        LuckyShare.objects.filter(grabbed_by__isnull=False).count(),
    )


def test_a_share_that_passes_the_cap_is_refused_and_left_for_the_others(settings):
    settings.LUCKY_DAILY_RECEIVE_LIMIT = D("100.00")
    group, (owner, collector, other) = family(3)
    first = equal_packet(group, owner, "60.00")
    second = equal_packet(group, owner, "50.00")
    assert api_of(collector).post(f"/api/v1/lucky/packets/{first.pk}/grab/").status_code == 200
    before = rows()
    reply = api_of(collector).post(f"/api/v1/lucky/packets/{second.pk}/grab/", HTTP_ACCEPT_LANGUAGE="en")
    assert reply.status_code == 409
    assert reply.json()["code"] == "daily_receive_limit_reached"
    assert reply.json()["message"] == ("You can receive at most 100.00 in lucky packets a day; 40.00 is left today.")
    assert rows() == before
    assert cash_of(collector) == D("60.00")
    # The share went back to the packet: someone under the cap takes it.
    assert api_of(other).post(f"/api/v1/lucky/packets/{second.pk}/grab/").json()["amount"] == "50.00"


def test_reaching_the_cap_exactly_is_allowed_and_the_refusal_is_in_chinese(settings):
    settings.LUCKY_DAILY_RECEIVE_LIMIT = D("100.00")
    group, (owner, collector) = family(2)
    for total in ("60.00", "40.00"):
        packet_grab(packet=equal_packet(group, owner, total), user=collector)
    assert cash_of(collector) == D("100.00")
    reply = api_of(collector).post(
        f"/api/v1/lucky/packets/{equal_packet(group, owner, '0.01').pk}/grab/", HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert reply.status_code == 409
    assert reply.json()["message"] == "每天最多抢得 100.00 的红包，今天还可抢 0.00。"


def test_a_second_grab_of_a_share_already_held_is_not_refused_by_the_cap(settings):
    settings.LUCKY_DAILY_RECEIVE_LIMIT = D("60.00")
    group, (owner, collector) = family(2)
    packet = equal_packet(group, owner, "60.00")
    first = packet_grab(packet=packet, user=collector)
    assert packet_grab(packet=packet, user=collector).pk == first.pk


def test_what_was_received_yesterday_does_not_count_today(settings):
    settings.LUCKY_DAILY_RECEIVE_LIMIT = D("100.00")
    group, (owner, collector) = family(2)
    yesterday = packet_grab(packet=equal_packet(group, owner, "90.00"), user=collector)
    LuckyShare.objects.filter(pk=yesterday.pk).update(grabbed_at=yesterday.grabbed_at - timedelta(days=1))
    assert packet_grab(packet=equal_packet(group, owner, "90.00"), user=collector).amount == D("90.00")


def test_the_page_shows_the_refusal_next_to_the_packet(settings):
    settings.LUCKY_DAILY_RECEIVE_LIMIT = D("10.00")
    group, (owner, collector) = family(2)
    packet = equal_packet(group, owner, "20.00")
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(collector)
    reply = client.post(f"/lucky/packets/{packet.pk}/grab/", HTTP_ACCEPT="application/json")
    assert reply.status_code == 409
    assert reply.json()["outcome"] == "refused"
    assert "10.00 is left today" in reply.json()["message"]
    assert cash_of(collector) == D("0.00")
