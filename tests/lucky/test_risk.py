"""Anti-fraud on the lucky-money path (lucky/risk.py): rings of heavy one-person flows are refused at the grab that
closes them, and so is passing on a heavy gift (a chain), each named in a finding; named accounts can neither send nor
grab; a device with too many accounts cannot grab; family packets split among many are none of these. One behaviour
per test."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Device
from antifraud.models import Finding, ListEntry
from lucky import errors
from lucky.models import LuckyPacket, LuckyShare
from lucky.risk import ring_fingerprint
from lucky.services import packet_grab, packet_send
from tests.factories.accounts import UserFactory
from tests.factories.lucky import cash_of, family, fund_cash

D = Decimal
pytestmark = pytest.mark.django_db


def people(n: int, cash: str = "500.00"):
    users = [UserFactory() for _ in range(n)]
    for user in users:
        fund_cash(user, cash)
    return users


def give(sender, recipient, total: str) -> LuckyShare:
    """A one-person packet, grabbed by its recipient."""
    packet = packet_send(
        sender=sender, recipient=recipient, kind=LuckyPacket.Kind.RANDOM, total=D(total), share_count=1
    )
    return packet_grab(packet=packet, user=recipient)


def test_a_loop_is_refused_at_the_grab_that_brings_the_money_back():
    a, b = people(2)
    give(a, b, "150.00")
    back = packet_send(sender=b, recipient=a, kind=LuckyPacket.Kind.RANDOM, total=D("150.00"), share_count=1)

    with pytest.raises(errors.LuckyRingRefused):
        packet_grab(packet=back, user=a)

    assert not LuckyShare.objects.filter(packet=back, grabbed_by__isnull=False).exists()  # the share stays free
    assert cash_of(a) == D("350.00")


def test_the_refused_loop_is_a_finding_naming_its_accounts():
    a, b = people(2)
    give(a, b, "150.00")
    back = packet_send(sender=b, recipient=a, kind=LuckyPacket.Kind.RANDOM, total=D("150.00"), share_count=1)
    with pytest.raises(errors.LuckyRingRefused):
        packet_grab(packet=back, user=a)

    finding = Finding.objects.get(kind=Finding.Kind.CIRCULAR_FLOW)
    assert finding.fingerprint == ring_fingerprint([a.pk, b.pk]) and finding.user_ids == sorted([a.pk, b.pk])


def test_passing_on_what_one_person_gave_is_refused_as_a_chain():
    a, b, c = people(3)
    give(a, b, "120.00")
    onward = packet_send(sender=b, recipient=c, kind=LuckyPacket.Kind.RANDOM, total=D("120.00"), share_count=1)

    with pytest.raises(errors.LuckyRingRefused):
        packet_grab(packet=onward, user=c)

    finding = Finding.objects.get(kind=Finding.Kind.CIRCULAR_FLOW)
    assert finding.fingerprint == ring_fingerprint([a.pk, b.pk, c.pk], closed=False)
    assert cash_of(c) == D("500.00")


def test_a_ring_of_three_is_refused_when_it_closes_even_after_its_chain_was_dismissed():
    a, b, c = people(3)
    give(a, b, "120.00")
    onward = packet_send(sender=b, recipient=c, kind=LuckyPacket.Kind.RANDOM, total=D("120.00"), share_count=1)
    with pytest.raises(errors.LuckyRingRefused):
        packet_grab(packet=onward, user=c)
    Finding.objects.update(status=Finding.Status.DISMISSED)
    packet_grab(packet=onward, user=c)
    closing = packet_send(sender=c, recipient=a, kind=LuckyPacket.Kind.RANDOM, total=D("120.00"), share_count=1)

    with pytest.raises(errors.LuckyRingRefused):
        packet_grab(packet=closing, user=a)

    assert Finding.objects.filter(fingerprint=ring_fingerprint([a.pk, b.pk, c.pk]), status="open").exists()


def test_an_account_named_in_a_ring_cannot_send_lucky_money():
    a, b = people(2)
    give(a, b, "150.00")
    back = packet_send(sender=b, recipient=a, kind=LuckyPacket.Kind.RANDOM, total=D("150.00"), share_count=1)
    with pytest.raises(errors.LuckyRingRefused):
        packet_grab(packet=back, user=a)

    with pytest.raises(errors.LuckyRiskRefused) as refused:
        packet_send(sender=a, recipient=b, kind=LuckyPacket.Kind.RANDOM, total=D("10.00"), share_count=1)
    assert refused.value.code == "under_review"


def test_nobody_can_grab_a_packet_sent_by_a_named_account():
    (a, b), outsider = people(2), UserFactory()
    for_outsider = packet_send(
        sender=b, recipient=outsider, kind=LuckyPacket.Kind.RANDOM, total=D("5.00"), share_count=1
    )
    give(a, b, "150.00")
    back = packet_send(sender=b, recipient=a, kind=LuckyPacket.Kind.RANDOM, total=D("140.00"), share_count=1)
    with pytest.raises(errors.LuckyRingRefused):
        packet_grab(packet=back, user=a)

    with pytest.raises(errors.LuckyRiskRefused):
        packet_grab(packet=for_outsider, user=outsider)
    assert cash_of(outsider) == D("0.00")


def test_passing_on_a_gift_days_after_receiving_it_is_no_chain():
    a, b, c = people(3)
    received = give(a, b, "120.00")
    LuckyShare.objects.filter(pk=received.pk).update(grabbed_at=received.grabbed_at - timedelta(days=2))

    assert give(b, c, "120.00").amount == D("120.00")  # outside LUCKY_PASS_THROUGH_HOURS (24)
    assert not Finding.objects.exists()


def test_a_named_account_s_group_packet_split_among_many_is_still_grabbed():
    group, (a, b, c, _d) = family(4, owner_cash="300.00")
    give(a, b, "150.00")
    back = packet_send(sender=b, recipient=a, kind=LuckyPacket.Kind.RANDOM, total=D("150.00"), share_count=1)
    with pytest.raises(errors.LuckyRingRefused):
        packet_grab(packet=back, user=a)
    family_packet = packet_send(sender=a, group=group, kind=LuckyPacket.Kind.EQUAL, total=D("30.00"), share_count=3)

    assert packet_grab(packet=family_packet, user=c).amount == D("10.00")  # a third: not directed


def test_a_dismissed_ring_is_let_through():
    a, b = people(2)
    give(a, b, "150.00")
    back = packet_send(sender=b, recipient=a, kind=LuckyPacket.Kind.RANDOM, total=D("150.00"), share_count=1)
    with pytest.raises(errors.LuckyRingRefused):
        packet_grab(packet=back, user=a)
    Finding.objects.filter(kind=Finding.Kind.CIRCULAR_FLOW).update(status=Finding.Status.DISMISSED)

    assert packet_grab(packet=back, user=a).amount == D("150.00")


def test_one_person_packets_back_and_forth_below_the_edge_minimum_pass():
    a, b = people(2)
    for _ in range(3):
        give(a, b, "30.00")
        give(b, a, "30.00")  # 90.00 each way in the window: under LUCKY_RING_MIN_EDGE (100.00)
    assert cash_of(a) == D("500.00") and not Finding.objects.exists()


def test_a_sender_who_gives_most_of_their_money_to_others_has_no_heavy_edge_back():
    a, b, c, d = people(4)
    give(a, c, "150.00")
    give(a, d, "150.00")
    give(a, b, "150.00")  # a third of what a sent: under LUCKY_RING_MIN_SHARE_PCT (50)
    assert give(b, a, "150.00").amount == D("150.00")


def test_a_family_sending_group_packets_to_each_other_every_day_is_never_refused():
    group, members = family(4, owner_cash="300.00")
    for member in members[1:]:
        fund_cash(member, "300.00")
    for day in range(7):
        for sender in members:
            packet = packet_send(
                sender=sender, group=group, kind=LuckyPacket.Kind.EQUAL, total=D("66.00"), share_count=3
            )
            for grabber in members:
                if grabber.pk != sender.pk:
                    packet_grab(packet=packet, user=grabber)
    assert not Finding.objects.exists()
    assert all(cash_of(m) == D("300.00") for m in members)


def page_grab(client: Client, packet: LuckyPacket):
    return client.post(f"/lucky/packets/{packet.pk}/grab/", HTTP_ACCEPT="application/json")


def test_a_phone_with_three_accounts_cannot_grab():
    group, members = family(4, owner_cash="100.00")
    packet = packet_send(sender=members[0], group=group, kind=LuckyPacket.Kind.EQUAL, total=D("30.00"), share_count=3)
    phone = Client()
    replies = []
    for puppet in members[1:]:
        phone.force_login(puppet)
        replies.append(page_grab(phone, packet))

    assert [r.status_code for r in replies] == [200, 200, 403]
    assert replies[2].json()["code"] == "device_shared"


def test_a_couple_sharing_one_phone_both_grab():
    group, (owner, one, two) = family(3, owner_cash="100.00")
    packet = packet_send(sender=owner, group=group, kind=LuckyPacket.Kind.EQUAL, total=D("20.00"), share_count=2)
    phone = Client()
    for person in (one, two):
        phone.force_login(person)
        assert page_grab(phone, packet).json()["outcome"] == "got"


def test_an_allow_listed_phone_may_be_shared_by_many():
    group, members = family(4, owner_cash="100.00")
    packet = packet_send(sender=members[0], group=group, kind=LuckyPacket.Kind.EQUAL, total=D("30.00"), share_count=3)
    phone = Client()
    phone.force_login(members[1])
    page_grab(phone, packet)
    ListEntry.objects.create(list="allow", kind="device", value=str(Device.objects.get().pk), reason="family tablet")
    for member in members[2:]:
        phone.force_login(member)
        assert page_grab(phone, packet).json()["outcome"] == "got"


def test_the_api_answers_a_ring_closing_grab_with_403_lucky_ring():
    a, b = people(2)
    give(a, b, "150.00")
    back = packet_send(sender=b, recipient=a, kind=LuckyPacket.Kind.RANDOM, total=D("150.00"), share_count=1)
    client = APIClient()
    client.force_authenticate(a)

    reply = client.post(f"/api/v1/lucky/packets/{back.pk}/grab/")

    assert reply.status_code == 403 and reply.json()["code"] == "lucky_ring"
    assert Finding.objects.filter(fingerprint=ring_fingerprint([a.pk, b.pk])).exists()
