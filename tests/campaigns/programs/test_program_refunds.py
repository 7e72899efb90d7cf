"""Refunds reverse program rewards: the refunded share of a referral reward and of a trial's marketing-fee rebate,
and the feedback reward of a trial order refunded in full — with the packet rebates' rules: held value is voided
back to its funder, credited value is taken from the balance and what it lacks becomes a debt netted from later
rewards; once per refund; a refund that comes before the program hook ran is honoured when it runs.

Orders, refunds and feedback go through the API; the outbox consumers run in-process (what the worker would run)."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import (
    Campaign,
    EarnRule,
    Feedback,
    ReferralProgram,
    ReferralReward,
    TrialAttribution,
    TrialProgram,
)
from campaigns.programs import TOPIC_ORDER_PROGRAMS, programs_for_order, referral_rewards_confirm_due
from campaigns.selectors import campaign_budget_account, campaign_reserve_account
from campaigns.services import campaign_fund, platform_pool_fund
from packets.services import packet_grant
from rebates.ledger import ledger_account, platform_account, transfer
from rebates.models import AccountKind, LedgerAccount, LedgerTransaction, OutboxEvent
from rebates.outbox import TOPIC_REDEMPTION_REBATES
from rebates.services import rebates_credit_for_redemption
from tests.factories.accounts import UserFactory
from tests.factories.campaigns import two_way_campaign
from tests.packets.helpers import line, order_body, post_order

D = Decimal
pytestmark = pytest.mark.django_db


def balance(kind, currency="CNY", **owner) -> Decimal:
    account = LedgerAccount.objects.filter(kind=kind, currency=currency, **owner).first()
    return account.balance if account else D("0.00")


def run_outbox():
    """What the worker does with every event still to do: the packet's rebates, then the order's programs."""
    for topic, ref_id in OutboxEvent.objects.filter(done_at__isnull=True).order_by("pk").values_list("topic", "ref_id"):
        if topic == TOPIC_REDEMPTION_REBATES:
            rebates_credit_for_redemption(redemption_id=ref_id)
        elif topic == TOPIC_ORDER_PROGRAMS:
            programs_for_order(order_id=ref_id)


def order(client, shopper, gross: str, *, category="game", code=None) -> int:
    reply = post_order(client, order_body(shopper, gross, packet_code=code, lines=[line(gross, category=category)]))
    assert reply.status_code == 201, reply.json()
    return reply.json()["id"]


def refund(client, order_id: int, amount: str, *, key: str | None = None):
    reply = client.post(
        f"/api/v1/orders/{order_id}/refunds/",
        {"amount": amount},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key or uuid.uuid4().hex,
    )
    assert reply.status_code == 201, reply.json()
    return reply


def withdraw(user, amount: str):
    """The user's cash leaves the platform (what a payout does, without WeChat)."""
    transfer(
        source=ledger_account(kind=AccountKind.SHOPPER_CASH, user_id=user.pk),
        destination=platform_account(AccountKind.PLATFORM_EXTERNAL),
        amount=D(amount),
        kind="withdrawal",
        idempotency_key=f"withdraw:{user.pk}:{uuid.uuid4().hex}",
        reference="test",
    )


def wallet(user) -> dict:
    client = APIClient()
    client.force_authenticate(user)
    return client.get("/api/v1/wallet/").json()["balances"]


# --- referral rewards ------------------------------------------------------------------------------------------------


@pytest.fixture
def referral(merchant_client):
    """The merchant's campaign pays inviters 10 % of their invitees' orders; returns (campaign, inviter, invitee)."""
    campaign = two_way_campaign(merchant=merchant_client.merchant, budget="1000.00")
    ReferralProgram.objects.create(campaign=campaign, inviter_rate=D("10.00"), window_days=30)
    inviter = UserFactory()
    invitee = UserFactory(invited_by=inviter, date_joined=timezone.now() - timedelta(days=1))
    return campaign, inviter, invitee


def test_a_partial_refund_takes_back_that_share_of_a_credited_referral_reward(merchant_client, referral):
    campaign, inviter, invitee = referral
    order_id = order(merchant_client, invitee, "100.00")
    run_outbox()
    assert balance(AccountKind.SHOPPER_CASH, user=inviter) == D("10.00")

    refund(merchant_client, order_id, "30.00")

    reward = ReferralReward.objects.get(order_id=order_id)
    assert (reward.reversed_amount, reward.status) == (D("3.00"), "credited")
    assert balance(AccountKind.SHOPPER_CASH, user=inviter) == D("7.00")
    assert campaign_budget_account(campaign).balance == D("993.00")
    call_command("audit")


def test_partial_refunds_add_up_to_the_whole_reward_never_more(merchant_client, referral):
    _campaign, inviter, invitee = referral
    order_id = order(merchant_client, invitee, "10.00")  # 1.00
    run_outbox()
    reversed_after = []
    for amount in ("3.33", "3.33", "3.34"):
        refund(merchant_client, order_id, amount)
        reversed_after.append(ReferralReward.objects.get(order_id=order_id).reversed_amount)
    assert reversed_after == [D("0.33"), D("0.67"), D("1.00")]  # cumulative share, rounded once each time
    assert ReferralReward.objects.get(order_id=order_id).status == "reversed"
    assert balance(AccountKind.SHOPPER_CASH, user=inviter) == D("0.00")
    call_command("audit")


def test_a_replayed_refund_request_reverses_once(merchant_client, referral):
    _campaign, inviter, invitee = referral
    order_id = order(merchant_client, invitee, "100.00")
    run_outbox()
    first = refund(merchant_client, order_id, "50.00", key="refund-1")
    again = refund(merchant_client, order_id, "50.00", key="refund-1")
    assert again.json() == first.json()
    assert balance(AccountKind.SHOPPER_CASH, user=inviter) == D("5.00")
    assert LedgerTransaction.objects.filter(kind="referral_reverse").count() == 1
    call_command("audit")


def test_a_reward_already_withdrawn_is_clawed_back_as_debt_netted_from_the_next_reward(merchant_client, referral):
    _campaign, inviter, invitee = referral
    order_id = order(merchant_client, invitee, "100.00")  # 10.00
    run_outbox()
    withdraw(inviter, "8.00")

    refund(merchant_client, order_id, "60.00")  # 6.00 back: the 2.00 left in the wallet, 4.00 owed

    assert balance(AccountKind.SHOPPER_CASH, user=inviter) == D("0.00")
    assert wallet(inviter)["debt"] == "4.00"
    call_command("audit")

    order(merchant_client, invitee, "50.00")  # 5.00: 4.00 repays the debt, 1.00 reaches the wallet
    run_outbox()
    assert (wallet(inviter)["cash"], wallet(inviter)["debt"]) == ("1.00", "0.00")
    call_command("audit")


def test_a_refund_while_the_referral_reward_is_held_reduces_what_is_held(merchant_client, referral):
    campaign, inviter, invitee = referral
    Campaign.objects.filter(pk=campaign.pk).update(hold_days=7)
    order_id = order(merchant_client, invitee, "100.00")
    run_outbox()
    assert campaign_reserve_account(campaign).balance == D("10.00")

    refund(merchant_client, order_id, "25.00")

    reward = ReferralReward.objects.get(order_id=order_id)
    assert (reward.reversed_amount, reward.status) == (D("2.50"), "pending")
    assert campaign_reserve_account(campaign).balance == D("7.50")
    assert campaign_budget_account(campaign).balance == D("992.50")
    call_command("audit")

    assert referral_rewards_confirm_due(now=timezone.now() + timedelta(days=8)) == 1
    assert balance(AccountKind.SHOPPER_CASH, user=inviter) == D("7.50")
    assert campaign_reserve_account(campaign).balance == D("0.00")
    call_command("audit")


def test_a_held_referral_reward_refunded_in_full_is_never_credited(merchant_client, referral):
    campaign, inviter, invitee = referral
    Campaign.objects.filter(pk=campaign.pk).update(hold_days=7)
    order_id = order(merchant_client, invitee, "100.00")
    run_outbox()
    refund(merchant_client, order_id, "100.00")
    assert ReferralReward.objects.get(order_id=order_id).status == "reversed"
    assert referral_rewards_confirm_due(now=timezone.now() + timedelta(days=8)) == 0
    assert balance(AccountKind.SHOPPER_CASH, user=inviter) == D("0.00")
    assert campaign_budget_account(campaign).balance == D("1000.00")
    call_command("audit")


def test_a_refund_before_the_program_hook_ran_is_honoured_when_it_runs(merchant_client, referral):
    _campaign, inviter, invitee = referral
    order_id = order(merchant_client, invitee, "100.00")
    refund(merchant_client, order_id, "40.00")  # the worker has not run yet
    assert not ReferralReward.objects.exists()

    run_outbox()

    reward = ReferralReward.objects.get(order_id=order_id)
    assert (reward.amount, reward.reversed_amount) == (D("10.00"), D("4.00"))
    assert balance(AccountKind.SHOPPER_CASH, user=inviter) == D("6.00")
    call_command("audit")


# --- trial programs --------------------------------------------------------------------------------------------------


@pytest.fixture
def trial(merchant_client):
    """The merchant's serum trial: a 10.00 packet buys the trial size; feedback A → 500 points; full-size serum bought
    within 30 days earns the merchant 5 % from the platform marketing pool."""
    platform_pool_fund(amount=D("100.00"), idempotency_key="pool")
    campaign = two_way_campaign(
        merchant=merchant_client.merchant, budget="1000.00", issuer_rate=D("0"), holder_rate=D("0")
    )
    rule = EarnRule.objects.create(campaign=campaign, trigger="manual", packet_amount=D("10.00"), min_spend=D("0"))
    program = TrialProgram.objects.create(
        campaign=campaign, trial_category="serum_trial", full_category="serum", merchant_fee_rate=D("5.00")
    )
    program.rule = rule
    return program


def trial_order(client, program, shopper) -> int:
    code = packet_grant(rule=program.rule, holder=shopper).code
    order_id = order(client, shopper, "19.90", category="serum_trial", code=code)
    run_outbox()
    return order_id


def feedback_a(shopper, order_id: int):
    client = APIClient()
    client.force_login(shopper)
    reply = client.post(
        "/api/v1/trials/feedback/",
        {"order_id": order_id, "text": "很清爽，不黏膩，兩週後毛孔細了，味道淡，會回購正裝。" * 3, "rating": 4},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )
    assert reply.status_code == 201, reply.json()
    return reply.json()


def test_a_refund_of_a_full_size_order_takes_back_that_share_of_the_merchants_marketing_fee(merchant_client, trial):
    shopper, merchant = UserFactory(), merchant_client.merchant
    trial_order(merchant_client, trial, shopper)
    full = order(merchant_client, shopper, "200.00", category="serum")
    run_outbox()
    assert balance(AccountKind.MERCHANT_MARKETING_CREDIT, merchant=merchant) == D("10.00")

    refund(merchant_client, full, "100.00")

    attribution = TrialAttribution.objects.get(order_id=full)
    assert (attribution.reversed_amount, attribution.status) == (D("5.00"), "credited")
    assert balance(AccountKind.MERCHANT_MARKETING_CREDIT, merchant=merchant) == D("5.00")
    assert balance(AccountKind.PLATFORM_MARKETING_POOL) == D("95.00")
    call_command("audit")


def test_a_marketing_fee_the_merchant_already_spent_is_clawed_back_as_merchant_debt(merchant_client, trial):
    shopper, merchant = UserFactory(), merchant_client.merchant
    trial_order(merchant_client, trial, shopper)
    full = order(merchant_client, shopper, "200.00", category="serum")
    run_outbox()
    campaign_fund(campaign=trial.campaign, amount=D("10.00"), idempotency_key="spent", from_marketing_credit=True)

    refund(merchant_client, full, "200.00")

    assert TrialAttribution.objects.get(order_id=full).status == "reversed"
    assert balance(AccountKind.MERCHANT_DEBT, merchant=merchant) == D("-10.00")
    staff_wallet = merchant_client.get("/api/v1/wallet/").json()["balances"]
    assert (staff_wallet["marketing_credit"], staff_wallet["debt"]) == ("0.00", "10.00")
    call_command("audit")


def test_a_full_size_order_refunded_before_the_hook_ran_earns_only_what_was_kept(merchant_client, trial):
    shopper = UserFactory()
    trial_order(merchant_client, trial, shopper)
    full = order(merchant_client, shopper, "200.00", category="serum")
    refund(merchant_client, full, "200.00")
    run_outbox()
    assert TrialAttribution.objects.get(order_id=full).status == "reversed"
    assert balance(AccountKind.MERCHANT_MARKETING_CREDIT, merchant=merchant_client.merchant) == D("0.00")
    assert balance(AccountKind.PLATFORM_MARKETING_POOL) == D("100.00")
    call_command("audit")


def test_a_full_refund_of_the_trial_order_takes_back_the_feedback_points(merchant_client, trial):
    shopper = UserFactory()
    trial_id = trial_order(merchant_client, trial, shopper)
    feedback_id = feedback_a(shopper, trial_id)["id"]
    from campaigns.programs import feedback_grade

    feedback_grade(feedback_id=feedback_id, grade="A")
    assert balance(AccountKind.SHOPPER_POINTS, "POINTS", user=shopper) == D("500")
    budget_before = campaign_budget_account(trial.campaign).balance

    refund(merchant_client, trial_id, "9.90")  # a partial refund keeps the reward
    assert balance(AccountKind.SHOPPER_POINTS, "POINTS", user=shopper) == D("500")
    refund(merchant_client, trial_id, "10.00")  # now the whole trial order is refunded

    assert Feedback.objects.get(pk=feedback_id).reversed_at is not None
    assert balance(AccountKind.SHOPPER_POINTS, "POINTS", user=shopper) == D("0")
    assert campaign_budget_account(trial.campaign).balance == budget_before + D("5.00")
    assert balance(AccountKind.POINTS_BACKING) == D("0.00")
    call_command("audit")


def test_feedback_points_already_spent_become_a_points_debt(merchant_client, trial):
    shopper = UserFactory()
    trial_id = trial_order(merchant_client, trial, shopper)
    from campaigns.programs import feedback_grade

    feedback_grade(feedback_id=feedback_a(shopper, trial_id)["id"], grade="A")
    transfer(  # 300 of the 500 points leave the shopper's account
        source=ledger_account(kind=AccountKind.SHOPPER_POINTS, currency="POINTS", user_id=shopper.pk),
        destination=platform_account(AccountKind.PLATFORM_EXTERNAL, "POINTS"),
        amount=D("300"),
        kind="points_redeemed",
        idempotency_key="points-out",
        reference="test",
    )
    refund(merchant_client, trial_id, "19.90")
    assert balance(AccountKind.SHOPPER_POINTS, "POINTS", user=shopper) == D("0")
    assert balance(AccountKind.SHOPPER_DEBT, "POINTS", user=shopper) == D("-300")
    call_command("audit")


def test_feedback_graded_after_the_trial_order_was_refunded_earns_nothing(merchant_client, trial):
    TrialProgram.objects.filter(pk=trial.pk).update(auto_grade=True)
    shopper = UserFactory()
    trial_id = trial_order(merchant_client, trial, shopper)
    refund(merchant_client, trial_id, "19.90")

    body = feedback_a(shopper, trial_id)

    assert (body["grade"], body["reward_points"]) == ("A", 0)
    assert balance(AccountKind.SHOPPER_POINTS, "POINTS", user=shopper) == D("0")
    assert not LedgerTransaction.objects.filter(kind="trial_feedback_reward").exists()
    call_command("audit")
