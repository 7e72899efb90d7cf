"""The lucky money API: create (idempotent), detail as far as the caller may see, grab, sent/received, groups; every
bad input a 4xx with a stable code and nothing written."""

import uuid
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from common.models import IdempotencyRecord
from lucky.models import LuckyGroup, LuckyMembership, LuckyPacket, LuckyShare
from rebates.models import Entry, LedgerTransaction
from tests.factories.accounts import UserFactory
from tests.factories.lucky import cash_of, family, fund_cash

D = Decimal
pytestmark = pytest.mark.django_db
PACKETS = "/api/v1/lucky/packets/"


def client_of(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def create(client, body, key=None):
    return client.post(PACKETS, body, format="json", HTTP_IDEMPOTENCY_KEY=key or uuid.uuid4().hex)


def rows() -> tuple[int, ...]:
    return tuple(
        m.objects.count()
        for m in (LuckyPacket, LuckyShare, LedgerTransaction, Entry, IdempotencyRecord, LuckyGroup, LuckyMembership)
    )


@pytest.fixture
def world():
    group, members = family(5)
    return group, members, [client_of(m) for m in members]


def body(group, **changes):
    return {
        "kind": "random",
        "total": "200.00",
        "share_count": 10,
        "message": "恭喜发财",
        "group_id": group.pk,
    } | changes


def test_a_family_sends_grabs_and_sees_who_got_what(world):
    group, members, clients = world
    created = create(clients[0], body(group))
    assert created.status_code == 201, created.json()
    packet = created.json()
    assert packet["total"] == "200.00" and packet["status"] == "open" and packet["shares"] == []
    amounts = []
    for client in clients[1:4]:
        grabbed = client.post(f"{PACKETS}{packet['id']}/grab/")
        assert grabbed.status_code == 200
        amounts.append(D(grabbed.json()["amount"]))
    assert [cash_of(m) for m in members[1:4]] == amounts
    seen_by_sender = clients[0].get(f"{PACKETS}{packet['id']}/").json()
    assert [D(s["amount"]) for s in seen_by_sender["shares"]] == amounts
    assert seen_by_sender["grabbed_count"] == 3
    seen_by_a_member_who_waits = clients[4].get(f"{PACKETS}{packet['id']}/").json()
    assert seen_by_a_member_who_waits["shares"] == [] and seen_by_a_member_who_waits["mine"] is None
    assert [p["id"] for p in clients[0].get(f"{PACKETS}sent/").json()["results"]] == [packet["id"]]
    received = clients[1].get(f"{PACKETS}received/").json()["results"]
    assert [(r["packet"]["id"], D(r["amount"])) for r in received] == [(packet["id"], amounts[0])]


def test_a_second_grab_returns_the_same_share(world):
    group, members, clients = world
    packet = create(clients[0], body(group, total="1.00", share_count=2)).json()
    first = clients[1].post(f"{PACKETS}{packet['id']}/grab/").json()
    assert clients[1].post(f"{PACKETS}{packet['id']}/grab/").json() == first
    assert cash_of(members[1]) == D(first["amount"])


def test_too_late_is_a_stable_code_with_the_chinese_message(world, django_capture_on_commit_callbacks):
    group, _, clients = world
    packet = create(clients[0], body(group, total="0.02", share_count=2)).json()
    with django_capture_on_commit_callbacks(execute=True):  # the last grab's settle runs after its commit
        for client in clients[1:3]:
            assert client.post(f"{PACKETS}{packet['id']}/grab/").status_code == 200
    before = rows()
    late = clients[3].post(f"{PACKETS}{packet['id']}/grab/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert late.status_code == 409
    assert late.json()["code"] == "all_grabbed"
    assert late.json()["message"] == "手慢了，红包派完了"
    assert rows() == before
    assert clients[0].get(f"{PACKETS}{packet['id']}/").json()["status"] == "grabbed_out"


def test_a_replayed_create_returns_the_stored_reply_and_sends_once(world):
    group, members, clients = world
    key = uuid.uuid4().hex
    first = create(clients[0], body(group), key)
    again = create(clients[0], body(group), key)
    assert again.status_code == 201 and again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert LuckyPacket.objects.count() == 1 and cash_of(members[0]) == D("300.00")


def test_a_replayed_create_with_another_body_is_422_and_writes_nothing(world):
    group, _, clients = world
    key = uuid.uuid4().hex
    create(clients[0], body(group), key)
    before = rows()
    other = create(clients[0], body(group, total="100.00"), key)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert rows() == before


def test_create_needs_an_idempotency_key(world):
    group, _, clients = world
    before = rows()
    reply = clients[0].post(PACKETS, body(group), format="json")
    assert reply.status_code == 400 and reply.json()["code"] == "idempotency_key_required"
    assert rows() == before


@pytest.mark.parametrize(
    "changes, status, code",
    [
        ({"total": "200.01"}, 400, "total_too_large"),
        ({"share_count": 0}, 400, "share_count_out_of_range"),
        ({"share_count": 101}, 400, "share_count_out_of_range"),
        ({"total": "0.09"}, 400, "total_below_one_fen_each"),
        ({"kind": "equal", "total": "10.00", "share_count": 3}, 400, "uneven_equal_split"),
        ({"total": 10.5}, 400, "invalid"),
        ({"kind": "jackpot"}, 400, "invalid"),
        ({"recipient_id": 1}, 400, "invalid"),
        ({"group_id": 999_999}, 404, "group_not_found"),
    ],
)
def test_bad_input_is_refused_with_a_stable_code_and_nothing_written(world, changes, status, code):
    group, _, clients = world
    before = rows()
    reply = create(clients[0], body(group, **changes))
    assert reply.status_code == status, reply.json()
    assert reply.json()["code"] == code or code in str(reply.json()["details"])
    assert set(reply.json()) == {"code", "message", "details"}
    assert rows() == before


def test_a_sender_without_funds_is_refused_and_nothing_written():
    group, members = family(2, owner_cash="1.00")
    before = rows()
    reply = create(client_of(members[0]), body(group, total="2.00", share_count=2))
    assert (reply.status_code, reply.json()["code"]) == (409, "insufficient_funds")
    assert rows() == before


def test_sending_to_a_group_one_does_not_belong_to_is_404(world):
    group, _, _ = world
    outsider = UserFactory()
    fund_cash(outsider, "50.00")
    before = rows()
    reply = create(client_of(outsider), body(group, total="5.00", share_count=2))
    assert (reply.status_code, reply.json()["code"]) == (404, "group_not_found")
    assert rows() == before


def test_a_foreign_packet_is_404_to_read_and_to_grab_and_nothing_is_written(world):
    group, _, clients = world
    packet = create(clients[0], body(group)).json()
    outsider = client_of(UserFactory())
    before = rows()
    for reply in (outsider.get(f"{PACKETS}{packet['id']}/"), outsider.post(f"{PACKETS}{packet['id']}/grab/")):
        assert (reply.status_code, reply.json()["code"]) == (404, "not_found")
    assert rows() == before


def test_grabbing_an_expired_packet_is_410_and_writes_nothing(world):
    from datetime import timedelta

    from django.utils import timezone

    group, _, clients = world
    packet = create(clients[0], body(group)).json()
    LuckyPacket.objects.filter(pk=packet["id"]).update(expires_at=timezone.now() - timedelta(minutes=1))
    before = rows()
    reply = clients[1].post(f"{PACKETS}{packet['id']}/grab/")
    assert (reply.status_code, reply.json()["code"]) == (410, "packet_expired")
    assert rows() == before


def test_a_packet_to_one_person(world):
    _, _, clients = world
    stranger = UserFactory()
    reply = create(clients[0], {"kind": "equal", "total": "6.66", "share_count": 1, "recipient_id": stranger.pk})
    assert reply.status_code == 201, reply.json()
    grabbed = client_of(stranger).post(f"{PACKETS}{reply.json()['id']}/grab/")
    assert D(grabbed.json()["amount"]) == D("6.66") and cash_of(stranger) == D("6.66")
    assert clients[1].get(f"{PACKETS}{reply.json()['id']}/").status_code == 404


def test_groups_are_created_joined_by_invitation_and_private():
    owner, friend, stranger = UserFactory(), UserFactory(), UserFactory()
    created = client_of(owner).post("/api/v1/lucky/groups/", {"name": "三年二班"}, format="json").json()
    joined = client_of(friend).post(
        "/api/v1/lucky/groups/join/", {"invite_token": created["invite_token"]}, format="json"
    )
    assert joined.status_code == 200 and joined.json()["members"] == [owner.pk, friend.pk]
    assert [g["id"] for g in client_of(friend).get("/api/v1/lucky/groups/").json()] == [created["id"]]
    assert client_of(stranger).get(f"/api/v1/lucky/groups/{created['id']}/").status_code == 404
    bad = client_of(stranger).post("/api/v1/lucky/groups/join/", {"invite_token": "nope"}, format="json")
    assert (bad.status_code, bad.json()["code"]) == (404, "invitation_not_found")
