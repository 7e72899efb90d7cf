"""Where a packet may be spent: a merchant campaign's packet (and every value its campaign funds, such as a coupon
rebate) only at that merchant; a platform campaign's packet at any merchant. Anything else is refused, unwritten."""

from decimal import Decimal

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from packets.models import Order, OrderLine, Packet, Redemption
from packets.services import packet_grant
from rebates.models import Entry, LedgerTransaction, OutboxEvent
from rebates.services import rebates_credit_for_redemption
from tests.campaigns.test_rules_in_orders import buy
from tests.factories.accounts import MerchantFactory, MerchantStaffFactory, UserFactory
from tests.factories.campaigns import platform_campaign, two_way_campaign

from .helpers import order_body, post_order

pytestmark = pytest.mark.django_db
D = Decimal


def client_of(merchant) -> APIClient:
    staff = MerchantStaffFactory(merchant=merchant)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff.user).key}")
    return client


def row_counts() -> tuple[int, ...]:
    return tuple(
        model.objects.count() for model in (Order, OrderLine, Redemption, LedgerTransaction, Entry, OutboxEvent)
    )


def earned_code(campaign, shopper) -> str:
    return buy(campaign.merchant, shopper, ("fruit", "200.00")).earned_packets.get().code


def platform_packet(shopper) -> Packet:
    return packet_grant(rule=platform_campaign().earn_rules.get(), holder=shopper)


def test_a_merchant_campaigns_packet_is_refused_at_another_merchant_and_nothing_is_written():
    campaign, shopper = two_way_campaign(), UserFactory()
    code = earned_code(campaign, shopper)
    before = row_counts()

    reply = post_order(client_of(MerchantFactory()), order_body(shopper, "50.00", packet_code=code))

    assert reply.status_code == 422, reply.json()
    assert reply.json()["code"] == "packet_not_accepted_here"
    assert reply.json()["message"]
    assert row_counts() == before
    assert Packet.objects.get(code=code).status == Packet.Status.ISSUED


def test_a_merchant_campaigns_packet_is_still_accepted_at_its_own_merchant():
    campaign, shopper = two_way_campaign(), UserFactory()
    code = earned_code(campaign, shopper)

    reply = post_order(client_of(campaign.merchant), order_body(shopper, "50.00", packet_code=code))

    assert reply.status_code == 201, reply.json()
    assert reply.json()["discount"] == "10.00"


def test_a_platform_campaigns_packet_is_accepted_at_two_merchants():
    shopper = UserFactory()
    for merchant in (MerchantFactory(), MerchantFactory()):
        packet = platform_packet(shopper)
        reply = post_order(client_of(merchant), order_body(shopper, "50.00", packet_code=packet.code))
        assert reply.status_code == 201, reply.json()
        assert (reply.json()["packet_code"], reply.json()["discount"]) == (packet.code, "10.00")
        assert Redemption.objects.get(packet=packet).order.merchant == merchant


def test_a_coupon_rebate_of_a_merchant_campaign_is_refused_at_another_merchant():
    campaign, shopper = two_way_campaign(holder_form="coupon"), UserFactory()
    order = buy(campaign.merchant, shopper, ("fruit", "50.00"), code=earned_code(campaign, shopper))
    [holder] = [r for r in rebates_credit_for_redemption(redemption_id=order.redemption.pk) if r.role == "holder"]
    coupon = holder.coupon
    assert coupon.campaign_id == campaign.pk  # the coupon is funded by the spent packet's campaign
    before = row_counts()

    reply = post_order(client_of(MerchantFactory()), order_body(shopper, "30.00", packet_code=coupon.code))

    assert reply.status_code == 422, reply.json()
    assert reply.json()["code"] == "packet_not_accepted_here"
    assert row_counts() == before
    coupon.refresh_from_db()
    assert coupon.status == Packet.Status.ISSUED
