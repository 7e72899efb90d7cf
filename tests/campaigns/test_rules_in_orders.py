"""Every rule kind through real orders and the real services, against PostgreSQL."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from campaigns.models import Campaign, CategoryRate, EarnRule, MultiplierWindow, RebateRule
from campaigns.selectors import campaign_budget_account
from campaigns.services import campaign_fund, merchant_deposit, platform_pool_fund
from packets.models import Packet
from packets.services import LineInput, order_create, packets_issue_for_event
from rebates.models import AccountKind, LedgerAccount
from rebates.services import rebates_credit_for_redemption
from tests.factories.accounts import MerchantFactory, UserFactory
from tests.factories.campaigns import CampaignFactory, two_way_campaign

D = Decimal
_seq = iter(range(1, 10**6))


def buy(merchant, shopper, *lines: tuple[str, str], code: str | None = None, **kw):
    """lines: (category, price) pairs, quantity 1."""
    items = [LineInput(f"S{i}", "item", cat, 1, D(price)) for i, (cat, price) in enumerate(lines)]
    return order_create(
        merchant=merchant,
        shopper=shopper,
        order_no=f"O-{next(_seq)}",
        lines=items,
        gross_amount=sum((i.unit_price for i in items), D("0")),
        packet_code=code,
        **kw,
    )


def credit(order):
    return {r.role: r for r in rebates_credit_for_redemption(redemption_id=order.redemption.pk)}


def cash(user) -> Decimal:
    account = LedgerAccount.objects.filter(kind=AccountKind.SHOPPER_CASH, user=user).first()
    return account.balance if account else D("0.00")


def referral_campaign(**rebate) -> Campaign:
    """A platform campaign: the inviter sends a 10.00 newbie packet; the inviter earns 10 % of what it buys."""
    platform_pool_fund(amount=D("1000.00"), idempotency_key="pool")
    campaign = CampaignFactory(merchant=None, participants="platform_user")
    EarnRule.objects.create(campaign=campaign, trigger="referral", packet_amount=D("10.00"), min_spend=D("0"))
    RebateRule.objects.create(campaign=campaign, issuer_rate=D("10"), holder_rate=D("0"), **rebate)
    campaign_fund(campaign=campaign, amount=D("500.00"), idempotency_key="fund-ref")
    return campaign


@pytest.mark.django_db
@pytest.mark.parametrize(("in_window", "expected"), [(False, D("1.00")), (True, D("2.00"))])
def test_seed_double_rebate_invitee_spends_10_inviter_gets_1_or_2_in_a_double_window(in_window, expected):
    campaign = referral_campaign()
    if in_window:
        now = timezone.now()
        MultiplierWindow.objects.create(
            campaign=campaign, starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1), factor=D("2")
        )
    inviter, invitee = UserFactory(), UserFactory()
    [packet] = packets_issue_for_event(trigger="referral", shopper=invitee, issuer_user=inviter)
    assert (packet.amount, packet.issuer_user, packet.holder) == (D("10.00"), inviter, invitee)

    order = buy(MerchantFactory(), invitee, ("game", "10.00"), code=packet.code)
    legs = credit(order)
    assert legs["issuer"].amount == expected
    assert legs["issuer"].beneficiary_user == inviter
    assert cash(inviter) == expected
    call_command("audit")


@pytest.mark.django_db
def test_threshold_coupon_spend_50_get_10_off_through_an_order():
    campaign = two_way_campaign(min_spend=D("50.00"))
    shopper = UserFactory()
    code = buy(campaign.merchant, shopper, ("fruit", "200.00")).earned_packets.get().code
    order = buy(campaign.merchant, shopper, ("fruit", "50.00"), code=code)
    assert (order.discount, order.amount_paid) == (D("10.00"), D("40.00"))


@pytest.mark.django_db
def test_per_category_rate_table_through_an_order():
    campaign = two_way_campaign(issuer_rate=D("0"), holder_rate=D("1"))
    CategoryRate.objects.create(campaign=campaign, category="fruit", holder_rate=D("8"))
    CategoryRate.objects.create(campaign=campaign, category="dairy", holder_rate=D("3"))
    shopper = UserFactory()
    code = buy(campaign.merchant, shopper, ("fruit", "200.00")).earned_packets.get().code
    order = buy(campaign.merchant, shopper, ("fruit", "50.00"), ("dairy", "20.00"), ("snacks", "10.00"), code=code)
    assert credit(order)["holder"].amount == D("4.00") + D("0.60") + D("0.10")
    call_command("audit")


@pytest.mark.django_db
def test_region_scope_through_orders():
    campaign = two_way_campaign()
    Campaign.objects.filter(pk=campaign.pk).update(regions=["广东/深圳"])
    shopper = UserFactory(province="广东", city="广州")
    assert not buy(campaign.merchant, shopper, ("fruit", "200.00")).earned_packets.exists()
    assert buy(campaign.merchant, shopper, ("fruit", "200.00"), province="广东", city="深圳").earned_packets.exists()


@pytest.mark.django_db
def test_new_users_only_through_orders():
    campaign = two_way_campaign()
    Campaign.objects.filter(pk=campaign.pk).update(user_scope="new_users")
    shopper = UserFactory()
    assert buy(campaign.merchant, shopper, ("fruit", "200.00")).earned_packets.exists()
    assert not buy(campaign.merchant, shopper, ("fruit", "200.00")).earned_packets.exists()


@pytest.mark.django_db
def test_tiered_newbie_packets_on_registration_are_5_or_10():
    campaign = CampaignFactory()
    merchant_deposit(merchant=campaign.merchant, amount=D("200"), idempotency_key="d")
    campaign_fund(campaign=campaign, amount=D("200"), idempotency_key="f")  # 12 packets of at most 10.00
    EarnRule.objects.create(campaign=campaign, trigger="registration", packet_amount=D("5"), tiers="5.00:1, 10.00:1")
    RebateRule.objects.create(campaign=campaign)
    amounts = {packets_issue_for_event(trigger="registration", shopper=UserFactory())[0].amount for _ in range(12)}
    assert amounts <= {D("5.00"), D("10.00")}
    assert len(amounts) == 2  # 12 fair draws all landing on one tier: 1 in 2048


@pytest.mark.django_db
def test_exhausted_budget_pauses_the_campaign_with_its_reason():
    campaign = two_way_campaign(budget="15.00")
    buy(campaign.merchant, UserFactory(), ("fruit", "200.00"))
    assert not buy(campaign.merchant, UserFactory(), ("fruit", "200.00")).earned_packets.exists()
    campaign.refresh_from_db()
    assert campaign.status == "paused"
    assert "Budget exhausted" in campaign.status_reason


def _concurrently(n: int, action):
    start = threading.Barrier(n)

    def run(i):
        start.wait()
        try:
            action(i)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


@pytest.mark.django_db(transaction=True)
def test_daily_cap_is_never_exceeded_under_20_concurrent_orders():
    campaign = two_way_campaign(budget="1000.00")
    Campaign.objects.filter(pk=campaign.pk).update(daily_budget_cap=D("50.00"))  # five 10.00 packets a day
    shoppers = [UserFactory() for _ in range(20)]
    _concurrently(20, lambda i: buy(campaign.merchant, shoppers[i], ("fruit", "200.00")))
    assert Packet.objects.filter(campaign=campaign).count() == 5
    assert campaign_budget_account(campaign).balance == D("950.00")
    call_command("audit")


@pytest.mark.django_db(transaction=True)
def test_per_user_and_total_limits_hold_under_concurrency():
    campaign = two_way_campaign(budget="1000.00")
    Campaign.objects.filter(pk=campaign.pk).update(per_user_limit=1, packet_limit=3)
    shopper = UserFactory()
    _concurrently(10, lambda i: buy(campaign.merchant, shopper, ("fruit", "200.00")))
    assert Packet.objects.filter(campaign=campaign, holder=shopper).count() == 1
    others = [UserFactory() for _ in range(10)]
    _concurrently(10, lambda i: buy(campaign.merchant, others[i], ("fruit", "200.00")))
    assert Packet.objects.filter(campaign=campaign).count() == 3
    assert Campaign.objects.get(pk=campaign.pk).packets_issued == 3


@pytest.mark.django_db
def test_ending_a_campaign_expires_its_packets_and_returns_the_budget_to_the_merchant():
    from campaigns.services import campaign_set_status

    campaign = two_way_campaign(budget="100.00")
    buy(campaign.merchant, UserFactory(), ("fruit", "200.00"))
    campaign_set_status(campaign=campaign, status="ended")
    assert set(Packet.objects.filter(campaign=campaign).values_list("status", flat=True)) == {"expired"}
    assert campaign_budget_account(campaign).balance == D("0.00")
    deposit = LedgerAccount.objects.get(kind=AccountKind.MERCHANT_DEPOSIT, merchant=campaign.merchant)
    assert deposit.balance == D("100.00")
    call_command("audit")


@pytest.mark.django_db
def test_campaigns_past_their_end_are_ended_by_the_beat_task():
    from campaigns.services import campaigns_end_due

    campaign = two_way_campaign(budget="10.00")
    Campaign.objects.filter(pk=campaign.pk).update(ends_at=timezone.now() - timedelta(seconds=1))
    assert campaigns_end_due() == 1
    assert Campaign.objects.get(pk=campaign.pk).status == "ended"
    assert campaigns_end_due() == 0
