"""A lucky packet sent as spendable red packets of a platform lucky-money campaign (issue 14, item 6): each grabbed
share becomes a packet the grabber holds and the sender issued; spending it at a merchant pays the sender the
campaign's issuer rebate and the grabber its holder rebate through the same rebate worker as every redemption; what
goes unspent returns to the sender. One behaviour per test."""

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import Campaign, EarnRule, RebateRule
from campaigns.services import campaign_fund, platform_pool_fund
from lucky import errors
from lucky.models import LuckyPacket, LuckyShare
from lucky.services import packet_grab, packet_send
from packets.models import Packet
from packets.services import LineInput, order_create, packets_expire_due
from rebates.services import rebates_credit_for_redemption
from tests.factories.accounts import MerchantFactory
from tests.factories.campaigns import CampaignFactory
from tests.factories.lucky import cash_of, family

D = Decimal
pytestmark = pytest.mark.django_db


def lucky_campaign(**changes) -> Campaign:
    """A platform person → person campaign: its packets need a 20.00 spend; the issuer earns 10 %, the holder 5 %."""
    platform_pool_fund(amount=D("1000.00"), idempotency_key="pool:lucky")
    campaign = CampaignFactory(merchant=None, participants="person_person", **changes)
    EarnRule.objects.create(
        campaign=campaign, trigger="manual", packet_amount=D("1.00"), min_spend=D("20.00"), valid_days=7
    )
    RebateRule.objects.create(campaign=campaign, issuer_rate=D("10"), holder_rate=D("5"))
    campaign_fund(campaign=campaign, amount=D("500.00"), idempotency_key="fund:lucky")
    return campaign


def spendable(campaign, total="30.00", shares=3):
    group, members = family(4, owner_cash="100.00")
    packet = packet_send(
        sender=members[0],
        group=group,
        kind=LuckyPacket.Kind.EQUAL,
        total=D(total),
        share_count=shares,
        campaign=campaign,
    )
    return packet, members


def spend(packet: Packet, total: str = "50.00"):
    return order_create(
        merchant=MerchantFactory(),
        shopper=packet.holder,
        order_no=f"LUCKY-{packet.pk}",
        lines=[LineInput("SKU", "item", "food", 1, D(total))],
        gross_amount=D(total),
        packet_code=packet.code,
    )


def test_a_grabbed_share_becomes_a_red_packet_the_grabber_holds_and_the_sender_issued():
    packet, (sender, grabber, *_rest) = spendable(lucky_campaign())

    share = packet_grab(packet=packet, user=grabber)

    red = LuckyShare.objects.get(pk=share.pk).spendable
    assert (red.holder, red.issuer_user, red.amount, red.campaign_id) == (
        grabber,
        sender,
        D("10.00"),
        packet.campaign_id,
    )
    assert red.min_spend == D("20.00") and red.status == Packet.Status.ISSUED
    assert cash_of(grabber) == D("0.00")  # not cash: a packet to spend at the campaign's merchants


def test_spending_it_pays_the_sender_the_issuer_rebate_and_the_grabber_the_holder_rebate():
    packet, (sender, grabber, *_rest) = spendable(lucky_campaign())
    red = LuckyShare.objects.get(pk=packet_grab(packet=packet, user=grabber).pk).spendable

    order = spend(red, "50.00")
    rebates = {r.role: r for r in rebates_credit_for_redemption(redemption_id=order.redemption.pk)}

    assert order.discount == D("10.00")
    assert (rebates["issuer"].beneficiary_user, rebates["holder"].beneficiary_user) == (sender, grabber)
    assert (rebates["issuer"].amount, rebates["holder"].amount) == (D("5.00"), D("2.50"))
    call_command("audit")


def test_an_unspent_red_packet_returns_its_value_to_the_sender():
    packet, (sender, grabber, *_rest) = spendable(lucky_campaign())
    red = LuckyShare.objects.get(pk=packet_grab(packet=packet, user=grabber).pk).spendable
    before = cash_of(sender)
    Packet.objects.filter(pk=red.pk).update(expires_at=timezone.now())

    packets_expire_due()

    assert cash_of(sender) == before + D("10.00")
    call_command("audit")


def test_a_campaign_that_is_not_a_lucky_money_campaign_is_refused_and_nothing_is_written():
    group, members = family(2, owner_cash="100.00")
    merchant_campaign = CampaignFactory()

    with pytest.raises(errors.LuckyError) as refused:
        packet_send(
            sender=members[0], group=group, kind="equal", total=D("10.00"), share_count=1, campaign=merchant_campaign
        )

    assert refused.value.code == "not_a_lucky_campaign"
    assert not LuckyPacket.objects.exists() and cash_of(members[0]) == D("100.00")


def test_a_campaign_that_ended_since_the_send_refuses_the_grab_and_the_share_stays():
    campaign = lucky_campaign()
    packet, (_sender, grabber, *_rest) = spendable(campaign)
    Campaign.objects.filter(pk=campaign.pk).update(ends_at=timezone.now())

    with pytest.raises(errors.LuckyError):
        packet_grab(packet=packet, user=grabber)

    assert not LuckyShare.objects.filter(packet=packet, grabbed_by__isnull=False).exists()


def test_the_api_sends_a_spendable_packet_with_campaign_id():
    campaign = lucky_campaign()
    group, members = family(2, owner_cash="100.00")
    client = APIClient()
    client.force_authenticate(members[0])
    body = {"kind": "equal", "total": "10.00", "share_count": 1, "group_id": group.pk, "campaign_id": campaign.pk}

    reply = client.post("/api/v1/lucky/packets/", body, format="json", HTTP_IDEMPOTENCY_KEY="lucky-spendable-1")

    assert reply.status_code == 201 and reply.json()["campaign"] == campaign.pk
