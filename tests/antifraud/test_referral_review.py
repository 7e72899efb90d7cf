"""Referral-program rewards (雙倍返利) under anti-fraud: a verdict when they are earned, held by findings and bans,
released or rejected by a reviewer — through the ledger, with the books clean after each."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from antifraud import services
from antifraud.detectors import finding_record
from antifraud.models import ReviewAction
from campaigns.programs import referral_reward_for_order, referral_rewards_confirm_due
from campaigns.selectors import campaign_budget_account, campaign_reserve_account
from rebates.models import AccountKind
from tests.antifraud.test_review import race
from tests.campaigns.programs.test_programs import balance, books_clean, referral_setup
from tests.campaigns.test_rules_in_orders import buy
from tests.factories.accounts import MerchantStaffFactory
from tests.factories.antifraud import platform_operator

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def operator():
    return platform_operator()


def name_in_finding(*users, kind="referral_farm"):
    finding, _ = finding_record(
        kind=kind,
        fingerprint=f"test:{'-'.join(str(u.pk) for u in users)}",
        user_ids=[u.pk for u in users],
        merchant_id=None,
        explanation="test",
        evidence={},
    )
    return finding


def spend_and_reward(campaign, invitee, gross="10.00"):
    """The invitee buys at the campaign's merchant; the referral hook runs (10 % of the gross to the inviter)."""
    return referral_reward_for_order(order_id=buy(campaign.merchant, invitee, ("game", gross)).pk)


def test_a_reward_whose_inviter_is_named_in_a_finding_is_held_even_without_a_holding_period():
    campaign, inviter, invitee = referral_setup(hold_days=0)
    name_in_finding(inviter)

    reward = spend_and_reward(campaign, invitee)

    assert (reward.status, reward.held_for_review) == ("pending", True)
    assert reward.risk_assessment.decision == "review"
    assert "open_finding" in [s["code"] for s in reward.risk_assessment.signals]
    assert campaign_reserve_account(campaign).balance == D("1.00")
    assert balance(AccountKind.SHOPPER_CASH, user=inviter) == D("0.00")
    assert referral_rewards_confirm_due(now=timezone.now() + timedelta(days=30)) == 0
    books_clean()


def test_a_reward_on_an_invitees_order_is_held_when_the_invitee_is_named():
    campaign, _inviter, invitee = referral_setup(hold_days=0)
    name_in_finding(invitee, kind="packet_farm")

    reward = spend_and_reward(campaign, invitee)

    assert reward.held_for_review and reward.status == "pending"


def test_an_unremarkable_reward_is_assessed_and_credited():
    campaign, inviter, invitee = referral_setup(hold_days=0)

    reward = spend_and_reward(campaign, invitee)

    assert (reward.status, reward.held_for_review, reward.risk_assessment.decision) == ("credited", False, "allow")
    assert balance(AccountKind.SHOPPER_CASH, user=inviter) == D("1.00")


def test_a_new_finding_holds_the_pending_rewards_of_its_accounts():
    campaign, inviter, invitee = referral_setup(hold_days=7)
    reward = spend_and_reward(campaign, invitee)
    assert not reward.held_for_review

    finding = name_in_finding(inviter, invitee)

    reward.refresh_from_db()
    assert reward.held_for_review
    hold = ReviewAction.objects.get(target=f"referral_reward:{reward.pk}")
    assert (hold.action, hold.actor, hold.reason) == ("hold", None, f"finding #{finding.pk}: referral_farm")
    assert referral_rewards_confirm_due(now=timezone.now() + timedelta(days=8)) == 0


def test_released_after_its_holding_period_a_held_reward_is_credited_once(operator):
    campaign, inviter, invitee = referral_setup(hold_days=0)
    name_in_finding(inviter)
    reward = spend_and_reward(campaign, invitee)

    assert services.referral_reward_release(reward_id=reward.pk, actor=operator, reason="A real friend")
    assert not services.referral_reward_release(reward_id=reward.pk, actor=operator, reason="again")

    reward.refresh_from_db()
    assert (reward.status, reward.held_for_review) == ("credited", False)
    assert balance(AccountKind.SHOPPER_CASH, user=inviter) == D("1.00")
    assert campaign_reserve_account(campaign).balance == D("0.00")
    assert ReviewAction.objects.filter(target=f"referral_reward:{reward.pk}", action="release").count() == 1
    books_clean()


def test_released_within_its_holding_period_a_reward_waits_for_the_hold_to_end(operator):
    campaign, inviter, invitee = referral_setup(hold_days=7)
    reward = spend_and_reward(campaign, invitee)
    name_in_finding(inviter)

    services.referral_reward_release(reward_id=reward.pk, actor=operator, reason="checked")

    reward.refresh_from_db()
    assert (reward.status, reward.held_for_review) == ("pending", False)
    assert referral_rewards_confirm_due(now=timezone.now() + timedelta(days=8)) == 1
    assert balance(AccountKind.SHOPPER_CASH, user=inviter) == D("1.00")
    books_clean()


def test_a_rejected_reward_goes_back_to_the_campaign_budget(operator):
    campaign, inviter, invitee = referral_setup(hold_days=0)
    name_in_finding(inviter)
    reward = spend_and_reward(campaign, invitee)

    assert services.referral_reward_reject(reward_id=reward.pk, actor=operator, reason="Farmed invitees")
    assert not services.referral_reward_reject(reward_id=reward.pk, actor=operator, reason="again")

    reward.refresh_from_db()
    assert (reward.status, reward.reversed_amount, reward.held_for_review) == ("reversed", D("1.00"), False)
    assert campaign_budget_account(campaign).balance == D("1000.00")
    assert campaign_reserve_account(campaign).balance == D("0.00")
    assert balance(AccountKind.SHOPPER_CASH, user=inviter) == D("0.00")
    books_clean()


def test_confirming_a_finding_rejects_the_rewards_it_held_and_dismissing_releases_them(operator):
    campaign, inviter, invitee = referral_setup(hold_days=7)
    farmed = spend_and_reward(campaign, invitee)
    _, friend, friends_invitee = referral_setup(hold_days=7)
    innocent = spend_and_reward(campaign, friends_invitee, "20.00")
    guilty, cleared = name_in_finding(inviter), name_in_finding(friend)

    services.finding_confirm(finding_id=guilty.pk, actor=operator, reason="One phone, eight invitees")
    services.finding_dismiss(finding_id=cleared.pk, actor=operator, reason="Classmates")

    farmed.refresh_from_db()
    innocent.refresh_from_db()
    assert (farmed.status, farmed.held_for_review) == ("reversed", False)
    assert (innocent.status, innocent.held_for_review) == ("pending", False)
    books_clean()


def test_banning_an_inviter_holds_their_pending_rewards(operator):
    campaign, inviter, invitee = referral_setup(hold_days=7)
    reward = spend_and_reward(campaign, invitee)

    services.user_ban(user_id=inviter.pk, actor=operator, reason="Referral farm")

    reward.refresh_from_db()
    assert reward.held_for_review
    assert referral_rewards_confirm_due(now=timezone.now() + timedelta(days=8)) == 0


def test_operators_reject_held_rewards_from_the_admin_with_a_reason(client, operator):
    campaign, inviter, invitee = referral_setup(hold_days=0)
    name_in_finding(inviter)
    reward = spend_and_reward(campaign, invitee)
    client.force_login(operator)
    queue = "/admin/antifraud/heldreferralreward/"
    assert f">{reward.pk}<" in client.get(queue).content.decode()

    form = {"action": "reject_rewards", "_selected_action": [reward.pk]}
    assert 'name="reason"' in client.post(queue, form).content.decode()
    client.post(queue, {**form, "apply": "1", "reason": "farmed invitees"})

    reward.refresh_from_db()
    assert reward.status == "reversed"
    assert ReviewAction.objects.get(action="reject").reason == "farmed invitees"
    books_clean()


def test_merchant_staff_do_not_see_held_referral_rewards(client):
    client.force_login(MerchantStaffFactory(user__is_staff=True).user)  # can use the admin for the own campaigns

    assert client.get("/admin/antifraud/heldreferralreward/").status_code == 403


# --- races with a refund of the invitee's order (order lock → reward lock → ledger accounts, in every path) ----------


@pytest.mark.django_db(transaction=True)
def test_a_rejection_racing_a_partial_refund_takes_the_reward_back_exactly_once():
    from packets.services import order_refund

    campaign, inviter, invitee = referral_setup(hold_days=0)
    name_in_finding(inviter)
    reward, reviewer = spend_and_reward(campaign, invitee), platform_operator()

    errors = race(
        lambda: services.referral_reward_reject(reward_id=reward.pk, actor=reviewer, reason="farmed"),
        lambda: order_refund(order=reward.order, amount=D("4.00")),
    )

    assert errors == [], [str(e) for e in errors]
    reward.refresh_from_db()
    assert (reward.status, reward.reversed_amount) == ("reversed", D("1.00"))
    assert campaign_reserve_account(campaign).balance == D("0.00")
    assert balance(AccountKind.SHOPPER_CASH, user=inviter) == D("0.00")
    books_clean()


@pytest.mark.django_db(transaction=True)
def test_a_release_racing_a_partial_refund_pays_only_the_unrefunded_share():
    from packets.services import order_refund

    campaign, inviter, invitee = referral_setup(hold_days=0)
    name_in_finding(inviter)
    reward, reviewer = spend_and_reward(campaign, invitee), platform_operator()

    errors = race(
        lambda: services.referral_reward_release(reward_id=reward.pk, actor=reviewer, reason="a real friend"),
        lambda: order_refund(order=reward.order, amount=D("4.00")),  # 40 % of the order: 0.40 of the reward back
    )

    assert errors == [], [str(e) for e in errors]
    reward.refresh_from_db()
    assert (reward.status, reward.reversed_amount, reward.held_for_review) == ("credited", D("0.40"), False)
    assert balance(AccountKind.SHOPPER_CASH, user=inviter) == D("0.60")
    assert campaign_reserve_account(campaign).balance == D("0.00")
    books_clean()
