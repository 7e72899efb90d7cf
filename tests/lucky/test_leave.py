"""Leaving a group, through the API and the room page: a member leaves and loses the room; the owner cannot (409
`owner_cannot_leave`); a non-member gets a 404; refusals write nothing."""

from decimal import Decimal

import pytest
from django.test import Client
from rest_framework.test import APIClient

from lucky.models import LuckyGroup, LuckyMembership, LuckyPacket, LuckyShare
from lucky.services import packet_expire, packet_send
from rebates.models import LedgerTransaction
from tests.factories.accounts import UserFactory
from tests.factories.lucky import cash_of, family, fund_cash

D = Decimal
pytestmark = pytest.mark.django_db


def api_of(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def page_of(user, language="en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    return client


def leave_api(group) -> str:
    return f"/api/v1/lucky/groups/{group.pk}/leave/"


def rows() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (LuckyGroup, LuckyMembership, LuckyPacket, LuckyShare, LedgerTransaction))


def test_a_member_leaves_and_no_longer_sees_or_grabs_the_room():
    group, (owner, leaver, stayer) = family(3)
    packet = packet_send(sender=owner, group=group, kind=LuckyPacket.Kind.RANDOM, total=D("3.00"), share_count=3)
    client = api_of(leaver)
    reply = client.post(leave_api(group))
    assert reply.status_code == 204
    assert not LuckyMembership.objects.filter(group=group, user=leaver).exists()
    assert LuckyMembership.objects.filter(group=group, user=stayer).exists()
    assert client.get(f"/api/v1/lucky/groups/{group.pk}/").status_code == 404
    assert client.get("/api/v1/lucky/groups/").json() == []
    grab = client.post(f"/api/v1/lucky/packets/{packet.pk}/grab/")
    assert grab.status_code == 404
    assert cash_of(leaver) == D("0.00")
    assert page_of(leaver).get(f"/lucky/groups/{group.pk}/").status_code == 404


def test_leaving_twice_is_a_404_the_second_time():
    group, (_owner, leaver) = family(2)
    client = api_of(leaver)
    assert client.post(leave_api(group)).status_code == 204
    again = client.post(leave_api(group))
    assert again.status_code == 404 and again.json()["code"] == "group_not_found"


def test_what_a_leaver_sent_stays_theirs_and_comes_back_on_expiry():
    group, (_owner, leaver, stayer) = family(3)
    fund_cash(leaver, "5.00")
    packet = packet_send(sender=leaver, group=group, kind=LuckyPacket.Kind.EQUAL, total=D("4.00"), share_count=2)
    assert api_of(leaver).post(leave_api(group)).status_code == 204
    assert api_of(stayer).post(f"/api/v1/lucky/packets/{packet.pk}/grab/").status_code == 200
    # The sender still sees the packet they sent, and who grabbed it.
    seen = api_of(leaver).get(f"/api/v1/lucky/packets/{packet.pk}/").json()
    assert [D(s["amount"]) for s in seen["shares"]] == [D("2.00")]
    LuckyPacket.objects.filter(pk=packet.pk).update(expires_at=packet.created_at)
    assert packet_expire(packet_id=packet.pk) == D("2.00")
    assert cash_of(leaver) == D("3.00")


def test_the_owner_cannot_leave_and_nothing_is_written():
    group, (owner, _member) = family(2)
    before = rows()
    reply = api_of(owner).post(leave_api(group), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert reply.status_code == 409
    assert reply.json()["code"] == "owner_cannot_leave"
    assert reply.json()["message"] == "群主不能退出自己的群。"
    assert rows() == before


def test_a_non_member_gets_a_404_and_nothing_is_written():
    group, _members = family(2)
    before = rows()
    for reply in (
        api_of(UserFactory()).post(leave_api(group)),
        api_of(UserFactory()).post("/api/v1/lucky/groups/0/leave/"),
    ):
        assert reply.status_code == 404
        assert reply.json()["code"] in ("group_not_found", "not_found")
    assert page_of(UserFactory()).post(f"/lucky/groups/{group.pk}/leave/").status_code == 404
    assert rows() == before


def test_the_room_offers_members_the_leave_button_and_leaving_goes_to_my_groups():
    group, (owner, member) = family(2)
    action = f'action="/lucky/groups/{group.pk}/leave/"'
    assert action not in page_of(owner).get(f"/lucky/groups/{group.pk}/").content.decode()
    page = page_of(member, "zh-hans")
    assert action in page.get(f"/lucky/groups/{group.pk}/").content.decode()
    reply = page.post(f"/lucky/groups/{group.pk}/leave/", follow=True)
    assert reply.redirect_chain == [("/lucky/", 302)]
    assert "你已退出“Family”。" in reply.content.decode()
    assert not LuckyMembership.objects.filter(group=group, user=member).exists()


def test_the_owner_pressing_leave_on_the_page_stays_and_is_told_why():
    group, (owner, _member) = family(2)
    before = rows()
    reply = page_of(owner).post(f"/lucky/groups/{group.pk}/leave/", follow=True)
    assert reply.redirect_chain == [(f"/lucky/groups/{group.pk}/", 302)]
    assert "The owner of a group cannot leave it." in reply.content.decode()
    assert rows() == before


def test_leaving_takes_get_as_a_405():
    group, (_owner, member) = family(2)
    assert page_of(member).get(f"/lucky/groups/{group.pk}/leave/").status_code == 405
    assert api_of(member).get(leave_api(group)).status_code == 405
    assert LuckyMembership.objects.filter(group=group, user=member).exists()
