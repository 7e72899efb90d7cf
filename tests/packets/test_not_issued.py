"""An order that earns a packet a limit or the budget stops says so: `not_issued` in the reply, with a stable code
per reason, kept with the order (its later reads and the shopper's order page say the same)."""

from decimal import Decimal

import pytest

from accounts.models import Device
from antifraud.devices import api_fingerprint
from antifraud.models import RiskPolicy
from campaigns.models import Campaign
from packets.errors import NOT_ISSUED_MESSAGES
from packets.models import Packet, PacketNotIssued
from tests.factories.accounts import UserFactory
from tests.factories.campaigns import two_way_campaign

from .helpers import order_body, post_order

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def shopper():
    return UserFactory()


def earning_order(client, shopper, **extra) -> dict:
    reply = post_order(client, order_body(shopper, "200.00", **extra))
    assert reply.status_code == 201, reply.json()
    return reply.json()


def refusal(reply: dict, campaign) -> dict:
    """The one not-issued entry of the reply, checked to name the campaign and the packet, with a message."""
    assert reply["earned_packets"] == []
    [entry] = reply["not_issued"]
    assert (entry["campaign_id"], entry["amount"]) == (campaign.pk, "10.00")
    assert entry["message"] == str(NOT_ISSUED_MESSAGES[entry["code"]])
    return entry


def test_an_order_that_issues_its_packet_has_nothing_not_issued(merchant_client, shopper):
    two_way_campaign(merchant=merchant_client.merchant)
    reply = earning_order(merchant_client, shopper)
    assert len(reply["earned_packets"]) == 1 and reply["not_issued"] == []


def test_the_daily_budget_cap_is_named_when_it_stops_a_packet(merchant_client, shopper):
    campaign = two_way_campaign(merchant=merchant_client.merchant)
    Campaign.objects.filter(pk=campaign.pk).update(daily_budget_cap=D("15.00"))
    assert len(earning_order(merchant_client, shopper)["earned_packets"]) == 1  # 10.00 of today's 15.00

    entry = refusal(earning_order(merchant_client, shopper), campaign)

    assert entry["code"] == "daily_budget_cap_reached"
    assert Packet.objects.filter(campaign=campaign).count() == 1


def test_the_campaigns_packet_limit_is_named_when_it_stops_a_packet(merchant_client, shopper):
    campaign = two_way_campaign(merchant=merchant_client.merchant)
    Campaign.objects.filter(pk=campaign.pk).update(packet_limit=1)
    earning_order(merchant_client, UserFactory())
    assert refusal(earning_order(merchant_client, shopper), campaign)["code"] == "campaign_limit_reached"


def test_the_per_user_limit_is_named_when_it_stops_a_packet(merchant_client, shopper):
    campaign = two_way_campaign(merchant=merchant_client.merchant)
    Campaign.objects.filter(pk=campaign.pk).update(per_user_limit=1)
    earning_order(merchant_client, shopper)
    assert refusal(earning_order(merchant_client, shopper), campaign)["code"] == "per_user_limit_reached"


def test_an_exhausted_budget_is_named_when_it_stops_a_packet(merchant_client, shopper):
    campaign = two_way_campaign(merchant=merchant_client.merchant, budget="5.00")
    assert refusal(earning_order(merchant_client, shopper), campaign)["code"] == "budget_exhausted"


def test_an_anti_fraud_account_limit_is_named_when_it_stops_a_packet(merchant_client, shopper):
    campaign = two_way_campaign(merchant=merchant_client.merchant)
    RiskPolicy.objects.create(campaign=campaign, account_daily_limit=1)
    earning_order(merchant_client, shopper)
    assert refusal(earning_order(merchant_client, shopper), campaign)["code"] == "account_daily_limit"


def test_an_anti_fraud_interval_is_named_when_it_stops_a_packet(merchant_client, shopper):
    campaign = two_way_campaign(merchant=merchant_client.merchant)  # default policy: 10 minutes between, per IP
    earning_order(merchant_client, UserFactory(), ip="203.0.113.7")
    entry = refusal(earning_order(merchant_client, shopper, ip="203.0.113.7"), campaign)
    assert entry["code"] == "ip_too_soon"


@pytest.mark.parametrize(("scope", "source"), [("ip", {"ip": "203.0.113.8"}), ("device", {"device_id": "phone-42"})])
def test_an_anti_fraud_daily_limit_per_ip_or_device_is_named_when_it_stops_a_packet(
    merchant_client, shopper, scope, source
):
    campaign = two_way_campaign(merchant=merchant_client.merchant)
    RiskPolicy.objects.create(campaign=campaign, min_interval_minutes=0, **{f"{scope}_daily_limit": 1})
    earning_order(merchant_client, UserFactory(), **source)
    assert refusal(earning_order(merchant_client, shopper, **source), campaign)["code"] == f"{scope}_daily_limit"


def test_an_anti_fraud_interval_per_device_is_named_when_it_stops_a_packet(merchant_client, shopper):
    campaign = two_way_campaign(merchant=merchant_client.merchant)
    earning_order(merchant_client, UserFactory(), device_id="phone-43")
    entry = refusal(earning_order(merchant_client, shopper, device_id="phone-43"), campaign)
    assert entry["code"] == "device_too_soon"


def test_a_banned_device_is_named_when_it_stops_a_packet(merchant_client, shopper):
    campaign = two_way_campaign(merchant=merchant_client.merchant)
    earning_order(merchant_client, shopper, device_id="phone-44")
    Device.objects.filter(fingerprint=api_fingerprint(merchant_client.merchant.pk, "phone-44")).update(is_banned=True)
    entry = refusal(earning_order(merchant_client, UserFactory(), device_id="phone-44"), campaign)
    assert entry["code"] == "device_banned"


def test_a_refused_packet_leaves_its_counters_untaken(merchant_client, shopper):
    # The per-user counter was counted, then the anti-fraud limit refused: both are rolled back with the packet,
    # only the note stays.
    campaign = two_way_campaign(merchant=merchant_client.merchant)
    Campaign.objects.filter(pk=campaign.pk).update(per_user_limit=2)
    RiskPolicy.objects.create(campaign=campaign, account_daily_limit=1)
    earning_order(merchant_client, shopper)
    refusal(earning_order(merchant_client, shopper), campaign)
    campaign.refresh_from_db()
    assert campaign.packets_issued == 1
    assert PacketNotIssued.objects.filter(campaign=campaign).count() == 1


def test_the_reason_is_kept_with_the_order_for_later_reads(merchant_client, shopper):
    campaign = two_way_campaign(merchant=merchant_client.merchant, budget="5.00")
    order_id = earning_order(merchant_client, shopper)["id"]

    later = merchant_client.get(f"/api/v1/orders/{order_id}/").json()

    assert refusal(later, campaign)["code"] == "budget_exhausted"


def test_the_reply_schema_documents_not_issued():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    output = schema["components"]["schemas"]["OrderOutput"]
    assert "not_issued" in output["required"]
    entry = schema["components"]["schemas"]["NotIssuedOutput"]
    assert set(entry["properties"]) == {"campaign_id", "amount", "code", "message"}


def test_every_reason_has_a_chinese_message():
    from django.utils import translation

    for code, message in NOT_ISSUED_MESSAGES.items():
        with translation.override("zh-hans"):
            chinese = str(message)
        with translation.override("en"):
            assert chinese != str(message), code
