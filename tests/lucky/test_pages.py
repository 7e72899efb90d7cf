"""Lucky money pages: my groups, the room (members only), send with errors next to their field, grab, join by link,
the timeline JSON; refusals write nothing; zh-Hans and English."""

from decimal import Decimal

import pytest
from django.test import Client

from common.models import IdempotencyRecord
from lucky.models import LuckyGroup, LuckyMembership, LuckyPacket, LuckyShare
from lucky.services import packet_send
from rebates.models import Entry, LedgerTransaction
from tests.factories.accounts import UserFactory
from tests.factories.lucky import cash_of, family

D = Decimal
pytestmark = pytest.mark.django_db


def client_of(user, language="en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    return client


def rows() -> tuple[int, ...]:
    return tuple(
        m.objects.count()
        for m in (LuckyPacket, LuckyShare, LedgerTransaction, Entry, IdempotencyRecord, LuckyGroup, LuckyMembership)
    )


def send_body(**changes):
    return {
        "kind": "random",
        "total": "10.00",
        "share_count": "3",
        "message": "新年好",
        "token": "6f1d3c2e-8a41-4a43-9b1e-2f0c5d6e7a8b",
    } | changes


def test_creating_a_group_makes_me_its_first_member():
    me = UserFactory()
    reply = client_of(me).post("/lucky/", {"name": "Family"})
    group = LuckyGroup.objects.get()
    assert reply.status_code == 302 and reply["Location"] == f"/lucky/groups/{group.pk}/"
    assert "Family" in client_of(me).get("/lucky/").content.decode()


def test_a_blank_group_name_is_refused_and_writes_nothing():
    before = rows()
    assert client_of(UserFactory()).post("/lucky/", {"name": ""}).status_code == 400
    assert rows() == before


def test_only_members_see_a_room_and_its_timeline():
    group, members = family(2)
    assert client_of(members[1]).get(f"/lucky/groups/{group.pk}/").status_code == 200
    stranger = client_of(UserFactory())
    assert stranger.get(f"/lucky/groups/{group.pk}/").status_code == 404
    assert stranger.get(f"/lucky/groups/{group.pk}/timeline.json").status_code == 404
    assert stranger.post(f"/lucky/groups/{group.pk}/send/", send_body()).status_code == 404


def test_the_room_shows_the_invitation_link_as_a_qr_code():
    group, members = family(1)
    page = client_of(members[0]).get(f"/lucky/groups/{group.pk}/").content.decode()
    assert f"/lucky/join/{group.invite_token}/" in page and "<svg" in page


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"total": "200.01"}, "total", "at most 200.00"),
        ({"share_count": "101"}, "share_count", "between 1 and 100"),
        ({"share_count": "0"}, "share_count", "between 1 and 100"),
        ({"total": "0.02"}, "total", "at least 0.03"),
        ({"total": "abc"}, "total", "Enter a number"),
        ({"kind": "equal", "total": "10.00", "share_count": "3"}, "total", "does not divide"),
        ({"total": "600.00"}, "total", "at most 200.00"),
    ],
)
def test_bad_input_is_shown_next_to_its_field_and_writes_nothing(changes, field, message):
    group, members = family(2)
    before = rows()
    reply = client_of(members[0]).post(f"/lucky/groups/{group.pk}/send/", send_body(**changes))
    assert reply.status_code == 400
    assert any(message in str(e) for e in reply.context["form"].errors[field]), reply.context["form"].errors
    assert rows() == before


def test_not_enough_cash_is_shown_next_to_the_total_and_writes_nothing():
    group, members = family(2, owner_cash="5.00")
    before = rows()
    reply = client_of(members[0]).post(f"/lucky/groups/{group.pk}/send/", send_body())
    assert reply.status_code == 409
    assert reply.context["form"].errors["total"]
    assert rows() == before


def test_errors_are_in_chinese_for_a_chinese_reader():
    group, members = family(2)
    reply = client_of(members[0], "zh-hans").post(f"/lucky/groups/{group.pk}/send/", send_body(share_count="101"))
    page = reply.content.decode()
    assert "发红包" in page and "红包个数" in page
    assert "between 1 and" not in page


def test_send_then_grab_and_a_resubmitted_form_sends_once(django_capture_on_commit_callbacks):
    group, members = family(4)
    sender = client_of(members[0])
    first = sender.post(f"/lucky/groups/{group.pk}/send/", send_body())
    sender.post(f"/lucky/groups/{group.pk}/send/", send_body())
    packet = LuckyPacket.objects.get()
    assert first.status_code == 302 and first["Location"].endswith(f"#packet-{packet.pk}")
    amounts = []
    for member in members[1:]:
        with django_capture_on_commit_callbacks(execute=True):  # the last grab's settle marks the best luck
            reply = client_of(member).post(f"/lucky/packets/{packet.pk}/grab/", HTTP_ACCEPT="application/json")
        assert reply.status_code == 200 and reply.json()["outcome"] == "got"
        amounts.append(cash_of(member))
    assert sum(amounts) == D("10.00")
    late = family(1)[1][0]
    LuckyMembership.objects.create(group=group, user=late)
    too_late = client_of(late, "zh-hans").post(f"/lucky/packets/{packet.pk}/grab/", HTTP_ACCEPT="application/json")
    assert too_late.json()["outcome"] == "too_late" and too_late.json()["message"] == "手慢了，红包派完了"
    room = client_of(members[0]).get(f"/lucky/groups/{group.pk}/").content.decode()
    assert "Best luck" in room and "3 of 3 shares grabbed" in room


def test_the_timeline_returns_what_changed_since_the_cursor():
    group, members = family(2)
    viewer = client_of(members[1])
    first = viewer.get(f"/lucky/groups/{group.pk}/timeline.json").json()
    assert first["packets"] == []
    packet = packet_send(sender=members[0], group=group, kind="random", total=D("1.00"), share_count=2)
    later = viewer.get(f"/lucky/groups/{group.pk}/timeline.json", {"since": first["cursor"]}).json()
    assert [p["id"] for p in later["packets"]] == [packet.pk]
    assert viewer.get(f"/lucky/groups/{group.pk}/timeline.json", {"since": "nonsense"}).status_code == 400


def test_the_invitation_page_joins_and_sends_signed_out_visitors_to_log_in():
    group, _members = family(1)
    path = f"/lucky/join/{group.invite_token}/"
    anonymous = Client().get(path)
    assert anonymous.status_code == 302 and "next=" in anonymous["Location"]
    newcomer = UserFactory()
    assert group.name in client_of(newcomer).get(path).content.decode()
    assert client_of(newcomer).post(path).status_code == 302
    assert LuckyMembership.objects.filter(group=group, user=newcomer).exists()
    assert client_of(newcomer).get("/lucky/join/not-a-token/").status_code == 404


@pytest.mark.parametrize("api", [False, True])
def test_the_grab_rate_limit_refuses_with_its_code_and_writes_nothing(settings, api):
    settings.LUCKY_GRAB_RATE = "1/m"
    group, members = family(3)
    packet = packet_send(sender=members[0], group=group, kind="random", total=D("1.00"), share_count=2)
    grabber = client_of(members[1])
    path = f"/api/v1/lucky/packets/{packet.pk}/grab/" if api else f"/lucky/packets/{packet.pk}/grab/"
    grabber.post(path, HTTP_ACCEPT="application/json")
    before = rows()
    reply = grabber.post(path, HTTP_ACCEPT="application/json")
    assert reply.status_code == 429
    if api:
        assert reply.json()["code"] == "rate_limited"
    assert rows() == before


def test_the_send_rate_limit_refuses_on_the_page_and_writes_nothing(settings):
    settings.LUCKY_SEND_RATE = "1/m"
    group, members = family(2)
    sender = client_of(members[0])
    sender.post(f"/lucky/groups/{group.pk}/send/", send_body())
    before = rows()
    reply = sender.post(f"/lucky/groups/{group.pk}/send/", send_body(token="0b4c9a8e-3d2f-4e1a-8c7b-6a5d4e3f2a1b"))
    assert reply.status_code == 429 and "Too many lucky packets" in reply.content.decode()
    assert rows() == before
