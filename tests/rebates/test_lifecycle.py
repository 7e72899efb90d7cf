"""Holding periods, confirmation, refunds, clawback and debt — each step exactly once, the books clean after each."""

import threading
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.selectors import campaign_budget_account
from packets.errors import OrderAlreadyRefunded, RefundTooLarge
from packets.models import Packet
from packets.services import order_refund
from rebates.ledger import ledger_account, platform_account, transfer
from rebates.models import AccountKind, LedgerAccount, Rebate
from rebates.services import rebates_confirm_due, rebates_credit_for_redemption
from tests.campaigns.test_rules_in_orders import buy
from tests.factories.accounts import UserFactory
from tests.factories.campaigns import two_way_campaign
from tests.packets.helpers import order_body, post_order

D = Decimal


def balance(kind, **owner) -> Decimal:
    account = LedgerAccount.objects.filter(kind=kind, **owner).first()
    return account.balance if account else D("0.00")


def spent_order(campaign, shopper, gross="50.00"):
    code = buy(campaign.merchant, shopper, ("fruit", "200.00")).earned_packets.get().code
    return buy(campaign.merchant, shopper, ("fruit", gross), code=code)


def credit(order) -> dict[str, Rebate]:
    return {r.role: r for r in rebates_credit_for_redemption(redemption_id=order.redemption.pk)}


def held_campaign(days=7, **kw):
    campaign = two_way_campaign(**kw)
    Campaign.objects.filter(pk=campaign.pk).update(hold_days=days)
    return campaign


@pytest.mark.django_db
def test_held_rebates_are_pending_visible_but_not_spendable_until_the_hold_ends():
    campaign, shopper = held_campaign(7), UserFactory()
    order = spent_order(campaign, shopper)
    legs = credit(order)
    assert legs["holder"].status == "pending"
    assert legs["holder"].hold_until == order.redemption.used_at + timedelta(days=7)
    assert balance(AccountKind.SHOPPER_CASH_PENDING, user=shopper) == D("2.50")
    assert balance(AccountKind.SHOPPER_CASH, user=shopper) == D("0.00")
    assert balance(AccountKind.MERCHANT_CREDIT_PENDING, merchant=campaign.merchant) == D("5.00")
    call_command("audit")

    assert rebates_confirm_due(now=timezone.now() + timedelta(days=6)) == 0
    later = timezone.now() + timedelta(days=8)
    assert rebates_confirm_due(now=later) == 2
    assert rebates_confirm_due(now=later) == 0
    assert balance(AccountKind.SHOPPER_CASH, user=shopper) == D("2.50")
    assert balance(AccountKind.SHOPPER_CASH_PENDING, user=shopper) == D("0.00")
    assert set(Rebate.objects.values_list("status", flat=True)) == {"credited"}
    call_command("audit")


@pytest.mark.django_db
def test_rebates_held_for_review_are_not_confirmed():
    campaign, shopper = held_campaign(1), UserFactory()
    credit(spent_order(campaign, shopper))
    Rebate.objects.update(held_for_review=True)
    assert rebates_confirm_due(now=timezone.now() + timedelta(days=2)) == 0


@pytest.mark.django_db
def test_partial_refund_while_pending_voids_that_share_back_to_the_budget():
    campaign, shopper = held_campaign(7), UserFactory()
    order = spent_order(campaign, shopper)
    credit(order)
    budget_before = campaign_budget_account(campaign).balance
    order_refund(order=order, amount=D("25.00"))
    holder = Rebate.objects.get(role="holder")
    assert (holder.reversed_amount, holder.status) == (D("1.25"), "pending")
    assert balance(AccountKind.SHOPPER_CASH_PENDING, user=shopper) == D("1.25")
    assert campaign_budget_account(campaign).balance == budget_before + D("1.25") + D("2.50")
    rebates_confirm_due(now=timezone.now() + timedelta(days=8))
    assert balance(AccountKind.SHOPPER_CASH, user=shopper) == D("1.25")
    call_command("audit")


@pytest.mark.django_db
def test_full_refund_of_credited_rebates_reverses_them_and_gives_the_packet_back():
    campaign, shopper = two_way_campaign(), UserFactory()
    order = spent_order(campaign, shopper)
    credit(order)
    order_refund(order=order, amount=D("50.00"))
    assert set(Rebate.objects.values_list("status", flat=True)) == {"reversed"}
    assert balance(AccountKind.SHOPPER_CASH, user=shopper) == D("0.00")
    assert balance(AccountKind.MERCHANT_MARKETING_CREDIT, merchant=campaign.merchant) == D("0.00")
    again = Packet.objects.get(channel="refund")
    assert (again.holder, again.amount, again.status, again.expires_at) == (
        shopper,
        D("10.00"),
        "issued",
        order.packet.expires_at,
    )
    assert again.code != order.packet.code
    call_command("audit")


@pytest.mark.django_db
def test_void_policy_keeps_the_packet_spent():
    campaign, shopper = two_way_campaign(), UserFactory()
    Campaign.objects.filter(pk=campaign.pk).update(refund_packet_policy="void")
    order = spent_order(campaign, shopper)
    credit(order)
    order_refund(order=order, amount=D("50.00"))
    assert not Packet.objects.filter(channel="refund").exists()
    call_command("audit")


@pytest.mark.django_db
def test_clawback_after_payout_becomes_debt_netted_from_the_next_rebate():
    campaign, shopper = two_way_campaign(), UserFactory()
    order = spent_order(campaign, shopper)
    credit(order)
    # The shopper withdrew the 2.50 already.
    transfer(
        source=ledger_account(kind=AccountKind.SHOPPER_CASH, user_id=shopper.pk),
        destination=platform_account(AccountKind.PLATFORM_EXTERNAL),
        amount=D("2.50"),
        kind="withdrawal",
        idempotency_key="w1",
        reference="test",
    )
    order_refund(order=order, amount=D("30.00"))  # 60 % refunded → 1.50 of the 2.50 comes back
    assert balance(AccountKind.SHOPPER_DEBT, user=shopper) == D("-1.50")
    call_command("audit")

    next_order = spent_order(campaign, shopper, gross="100.00")  # 5 % of 100 = 5.00
    credit(next_order)
    assert balance(AccountKind.SHOPPER_DEBT, user=shopper) == D("0.00")
    assert balance(AccountKind.SHOPPER_CASH, user=shopper) == D("3.50")
    call_command("audit")


@pytest.mark.django_db
def test_refund_before_the_worker_runs_is_applied_when_it_credits():
    campaign, shopper = two_way_campaign(), UserFactory()
    order = spent_order(campaign, shopper)
    order_refund(order=order, amount=D("50.00"))
    legs = credit(order)
    assert {r.status for r in legs.values()} == {"reversed"}
    assert balance(AccountKind.SHOPPER_CASH, user=shopper) == D("0.00")
    call_command("audit")


@pytest.mark.django_db
def test_points_rebates_are_reversed_in_points():
    campaign, shopper = two_way_campaign(holder_form="points", points_per_cny=100), UserFactory()
    order = spent_order(campaign, shopper)
    credit(order)
    order_refund(order=order, amount=D("10.00"))  # 20 % of 250 points
    assert balance(AccountKind.SHOPPER_POINTS, user=shopper) == D("200")
    call_command("audit")


@pytest.mark.django_db
def test_refund_larger_than_the_order_and_of_a_refunded_order_are_refused():
    campaign, shopper = two_way_campaign(), UserFactory()
    order = spent_order(campaign, shopper)
    with pytest.raises(RefundTooLarge):
        order_refund(order=order, amount=D("50.01"))
    order_refund(order=order, amount=D("50.00"))
    with pytest.raises(OrderAlreadyRefunded):
        order_refund(order=order, amount=D("1.00"))


@pytest.mark.django_db
def test_refund_api_is_idempotent_and_scoped_to_the_merchant(merchant_client):
    two_way_campaign(merchant=merchant_client.merchant)
    shopper = UserFactory()
    order_id = post_order(merchant_client, order_body(shopper, "80.00")).json()["id"]
    url = f"/api/v1/orders/{order_id}/refunds/"
    first = merchant_client.post(url, {"amount": "30.00"}, format="json", HTTP_IDEMPOTENCY_KEY="r1")
    again = merchant_client.post(url, {"amount": "30.00"}, format="json", HTTP_IDEMPOTENCY_KEY="r1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    too_much = merchant_client.post(url, {"amount": "60.00"}, format="json", HTTP_IDEMPOTENCY_KEY="r2")
    assert (too_much.status_code, too_much.json()["code"]) == (422, "refund_exceeds_order")
    bad = merchant_client.post(url, {"amount": "1.001"}, format="json", HTTP_IDEMPOTENCY_KEY="r3")
    assert bad.status_code == 400

    from rest_framework.test import APIClient

    from tests.factories.accounts import MerchantStaffFactory

    other = APIClient()
    other.force_authenticate(MerchantStaffFactory().user)
    assert other.post(url, {"amount": "1.00"}, format="json", HTTP_IDEMPOTENCY_KEY="x").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_concurrent_refunds_never_exceed_the_order():
    campaign, shopper = two_way_campaign(), UserFactory()
    order = spent_order(campaign, shopper)
    outcomes = []
    start = threading.Barrier(6)

    def refund():
        start.wait()
        try:
            order_refund(order=order, amount=D("20.00"), reason=uuid.uuid4().hex)
            outcomes.append("ok")
        except (RefundTooLarge, OrderAlreadyRefunded):
            outcomes.append("refused")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=refund) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 2  # 2 × 20.00 fit in 50.00; a third would not
    assert sum(r.amount for r in order.refunds.all()) == D("40.00")
    credit(order)
    call_command("audit")


@pytest.mark.django_db
def test_coupon_rebate_is_a_packet_for_the_next_purchase_and_is_revoked_by_a_full_refund():
    from campaigns.models import RebateRule

    campaign, shopper = two_way_campaign(), UserFactory()
    RebateRule.objects.filter(campaign=campaign).update(holder_form="coupon", coupon_min_spend=D("20.00"))
    order = spent_order(campaign, shopper)
    holder = credit(order)["holder"]
    coupon = holder.coupon
    assert (holder.form, coupon.holder, coupon.amount, coupon.min_spend, coupon.status) == (
        "coupon",
        shopper,
        D("2.50"),
        D("20.00"),
        "issued",
    )
    call_command("audit")
    Campaign.objects.filter(pk=campaign.pk).update(refund_packet_policy="void")
    order_refund(order=order, amount=D("50.00"))
    coupon.refresh_from_db()
    assert coupon.status == "revoked"
    call_command("audit")


@pytest.mark.django_db
def test_merchant_marketing_credit_funds_its_next_campaign():
    from campaigns.services import campaign_fund

    campaign, shopper = two_way_campaign(), UserFactory()
    credit(spent_order(campaign, shopper))  # the merchant earns 5.00 marketing credit
    budget_before = campaign_budget_account(campaign).balance
    campaign_fund(campaign=campaign, amount=D("5.00"), idempotency_key="credit-fund", from_marketing_credit=True)
    assert campaign_budget_account(campaign).balance == budget_before + D("5.00")
    assert balance(AccountKind.MERCHANT_MARKETING_CREDIT, merchant=campaign.merchant) == D("0.00")
    call_command("audit")
