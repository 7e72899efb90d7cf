"""Failed issuance as rows: a packet an order earned but could not get (the budget ran out) is kept with its reason;
once the budget is refilled the sweeper issues it, once; the admin lists the rows and re-issues one or many."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from accounts import roles
from accounts.models import MerchantStaff
from campaigns.models import Campaign
from campaigns.services import campaign_fund, campaign_set_status, merchant_deposit
from packets.models import Packet, PacketNotIssued
from packets.services import packet_reissue_not_issued, packets_reissue_retryable
from tests.campaigns.test_rules_in_orders import buy
from tests.factories.accounts import MerchantStaffFactory, UserFactory
from tests.factories.campaigns import EarnRuleFactory, two_way_campaign

pytestmark = pytest.mark.django_db
LIST = "/admin/reports/failedissuance/"


@pytest.fixture
def refused():
    """An order that earned a 10.00 packet of a campaign with 5.00 left: refused for the budget, the campaign paused."""
    campaign = two_way_campaign(merchant=MerchantStaffFactory().merchant, budget="5.00")
    order = buy(campaign.merchant, UserFactory(), ("fruit", "200.00"))
    row = PacketNotIssued.objects.get(order=order)
    assert row.code == "budget_exhausted" and not order.earned_packets.exists()
    return campaign, order, row


def _refill(campaign):
    merchant_deposit(merchant=campaign.merchant, amount=Decimal("100.00"), idempotency_key=f"refill:{campaign.pk}")
    campaign_fund(campaign=campaign, amount=Decimal("100.00"), idempotency_key=f"refund:{campaign.pk}")
    campaign.refresh_from_db()
    if campaign.status != Campaign.Status.ACTIVE:
        campaign_set_status(campaign=campaign, status=Campaign.Status.ACTIVE)


def test_the_sweeper_issues_a_refused_packet_once_the_budget_is_refilled(refused):
    campaign, order, row = refused
    assert packets_reissue_retryable() == 0  # still short (and paused): nothing to do

    _refill(campaign)

    assert packets_reissue_retryable() == 1
    assert packets_reissue_retryable() == 0  # idempotent: the row records its packet
    packet = order.earned_packets.get()
    row.refresh_from_db()
    assert row.reissued_packet == packet and row.reissued_at is not None
    assert (packet.holder, packet.amount, packet.campaign) == (order.shopper, Decimal("10.00"), campaign)
    assert packet_reissue_not_issued(not_issued_id=row.pk) == packet
    call_command("audit")  # the re-issue went through the ledger like any issuance


def test_refused_again_keeps_one_row_with_the_latest_reason(refused):
    campaign, order, row = refused
    campaign_set_status(campaign=campaign, status=Campaign.Status.ACTIVE)  # active again, budget still 5.00

    assert packet_reissue_not_issued(not_issued_id=row.pk) is None
    assert PacketNotIssued.objects.filter(order=order).count() == 1
    assert PacketNotIssued.objects.get(order=order).code == "budget_exhausted"
    assert not Packet.objects.filter(source_order=order).exists()


def _manager(client, merchant):
    staff = MerchantStaffFactory(merchant=merchant, role=MerchantStaff.Role.CAMPAIGN_MANAGER, user__is_staff=True)
    staff.user.groups.add(Group.objects.get(name=roles.CAMPAIGN_MANAGER))
    client.force_login(staff.user)
    client.cookies["django_language"] = "zh-hans"


def test_the_admin_lists_the_merchants_refusals_and_reissues_them(client, refused):
    campaign, order, row = refused
    other = two_way_campaign(merchant=MerchantStaffFactory().merchant, budget="5.00")
    buy(other.merchant, UserFactory(), ("fruit", "200.00"))
    final = PacketNotIssued.objects.create(  # a second rule of the campaign, refused by its per-user limit
        order=order,
        campaign=campaign,
        earn_rule=EarnRuleFactory(campaign=campaign),
        amount=Decimal("3.00"),
        code="per_user_limit_reached",
    )
    _refill(campaign)
    _manager(client, campaign.merchant)

    listing = client.get(LIST)
    assert listing.status_code == 200
    assert set(listing.context["cl"].queryset) == {row, final}  # not the other merchant's refusal
    assert list(client.get(LIST, {"state": "retryable"}).context["cl"].queryset) == [row]

    reply = client.post(LIST, {"action": "reissue", "_selected_action": [row.pk, final.pk]}, follow=True)

    assert reply.status_code == 200
    row.refresh_from_db()
    final.refresh_from_db()
    assert row.reissued_packet is not None
    assert final.reissued_packet is None  # a limit meant to hold is never re-issued
    assert "不会重新发放" in reply.content.decode()
