"""Referral rebates (雙倍返利): an invitee's orders within N days of signing up earn the inviter a % of the order's
gross, multiplied by the campaign's multiplier window covering the order. Campaign budget → inviter's cash (through
the campaign's rebate reserve while a holding period or a review holds it)."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User
from antifraud.assess import referral_assessment_record, referral_reward_verdict
from antifraud.scoring import ALLOW
from common.money import CNY, ZERO, percent_of, refunded_share
from packets.models import Order
from rebates.ledger import Posting, ledger_post
from rebates.ledger.postings import ledger_balances_lock, postings_into_available

from ..models import Campaign, ReferralProgram, ReferralReward
from ..rules import Multiplier
from ..selectors import campaign_budget_account, campaign_reserve_account
from ..services import campaign_pause_budget_exhausted
from .shared import cash_pockets, claw_back, order_refunded

ONE = Decimal("1")


def referral_amount(*, gross: Decimal, rate: Decimal, multipliers: Sequence[Multiplier], at: datetime):
    """The inviter's rebate on one invitee order: `rate` % of the gross, times the factor of the multiplier window
    covering the order (the first one, as in the rule engine), rounded once. Returns (amount, factor)."""
    window = next((m for m in multipliers if m.covers(at)), None)
    factor = window.factor if window else ONE
    return percent_of(gross, rate * factor), factor


def referral_window_covers(*, signed_up_at: datetime, window_days: int, at: datetime) -> bool:
    """Is an order at `at` within `window_days` of the invitee's sign-up?"""
    return signed_up_at <= at < signed_up_at + timedelta(days=window_days)


def _multipliers(campaign: Campaign) -> tuple[Multiplier, ...]:
    return tuple(
        Multiplier(m.starts_at, m.ends_at, m.factor)
        for m in sorted(campaign.multiplier_windows.all(), key=lambda m: m.starts_at)
    )


def _referral_program_for(order: Order, invitee: User) -> ReferralProgram | None:
    """The program that pays for this order: a running campaign of the order's merchant before a platform
    campaign, oldest first, whose window after the invitee's sign-up covers the order."""
    at = order.created_at
    programs = (
        ReferralProgram.objects.filter(
            Q(campaign__merchant_id=order.merchant_id) | Q(campaign__merchant__isnull=True),
            campaign__status=Campaign.Status.ACTIVE,
            campaign__starts_at__lte=at,
            campaign__ends_at__gt=at,
        )
        .select_related("campaign")
        .prefetch_related("campaign__multiplier_windows")
        .order_by(F("campaign__merchant_id").asc(nulls_last=True), "campaign_id")
    )
    return next(
        (
            p
            for p in programs
            if referral_window_covers(signed_up_at=invitee.date_joined, window_days=p.window_days, at=at)
        ),
        None,
    )


@transaction.atomic
def referral_reward_for_order(*, order_id: int, now: datetime | None = None) -> ReferralReward | None:
    """Credit the inviter of the order's shopper, once. Safe to run any number of times, concurrently too: the
    order row lock serialises runs, a run that finds the reward does nothing, and the unique order on the reward and
    the ledger key `referral:order:<id>` stand behind that. Returns the reward, or None when the order earns none.

    With a holding period (the campaign's hold_days) the amount is reserved from the budget into the campaign's
    rebate reserve and credited when the hold ends (`referral_rewards_confirm_due`). A reward the risk verdict
    (antifraud/assess.py) would review or block is reserved the same way and held for a person's review
    (`held_for_review`), with or without a holding period."""
    now = now or timezone.now()
    order = Order.objects.select_for_update(of=("self",)).select_related("shopper", "packet").get(pk=order_id)
    existing = ReferralReward.objects.filter(order=order).first()
    if existing is not None:
        return existing
    invitee = order.shopper
    inviter_id = invitee.invited_by_id
    if not inviter_id or inviter_id == invitee.pk:
        return None
    inviter = User.objects.get(pk=inviter_id)
    if inviter.is_banned or not inviter.is_active:
        return None
    if order.packet_id and order.packet.issuer_user_id == inviter_id:
        # The inviter's own packet paid for this order: its issuer leg already rewards the inviter (no double pay).
        return None
    program = _referral_program_for(order, invitee)
    if program is None:
        return None
    campaign = program.campaign
    amount, factor = referral_amount(
        gross=order.gross_amount, rate=program.inviter_rate, multipliers=_multipliers(campaign), at=order.created_at
    )
    if amount <= 0:
        return None
    hold_until = order.created_at + timedelta(days=campaign.hold_days) if campaign.hold_days else None
    verdict = referral_reward_verdict(order=order, inviter_id=inviter_id, campaign_id=campaign.pk)
    review = verdict.decision != ALLOW
    held = review or (hold_until is not None and hold_until > now)

    budget, reserve, pockets = campaign_budget_account(campaign), campaign_reserve_account(campaign), None
    accounts = [budget, reserve]
    if not held:
        pockets = cash_pockets(inviter_id)
        accounts += [pockets.available, pockets.debt]
    balances = ledger_balances_lock(accounts)
    reward = ReferralReward(
        program=program,
        order=order,
        inviter_id=inviter_id,
        invitee=invitee,
        base=order.gross_amount,
        rate=program.inviter_rate,
        factor=factor,
        amount=amount,
        hold_until=hold_until,
        held_for_review=review,
    )
    if balances[budget.pk] < amount:
        reward.status = ReferralReward.Status.UNFUNDED
        reward.held_for_review = False  # nothing was paid: nothing to review
        reward.save()
        referral_assessment_record(reward=reward, verdict=verdict, campaign_id=campaign.pk)
        campaign_pause_budget_exhausted(campaign_id=campaign.pk)
        return reward
    postings = [Posting(budget, -amount)]
    postings += [Posting(reserve, amount)] if held else postings_into_available(pockets, amount, balances)
    reward.ledger_transaction, _ = ledger_post(
        kind="referral_reward",
        idempotency_key=f"referral:order:{order.pk}",
        reference=f"order:{order.pk}",
        postings=postings,
    )
    reward.status = ReferralReward.Status.PENDING if held else ReferralReward.Status.CREDITED
    reward.confirmed_at = None if held else now
    reward.save()
    referral_assessment_record(reward=reward, verdict=verdict, campaign_id=campaign.pk)
    refunded = order_refunded(order)
    if refunded:  # refunds that came before this hook ran take their share back at once
        referral_reverse(reward, gross=order.gross_amount, refunded=refunded, key="credit")
    return reward


@transaction.atomic
def referral_reward_confirm(*, reward_id: int, now: datetime | None = None) -> bool:
    """The hold is over: what is still reserved (the amount less any refunded share) moves to the inviter's cash,
    netting any debt first. Once."""
    now = now or timezone.now()
    reward = (
        ReferralReward.objects.select_for_update(of=("self",)).select_related("program__campaign").get(pk=reward_id)
    )
    if reward.status != ReferralReward.Status.PENDING or reward.held_for_review or (reward.hold_until or now) > now:
        return False
    _referral_confirm_post(reward)
    ReferralReward.objects.filter(pk=reward.pk).update(status=ReferralReward.Status.CREDITED, confirmed_at=now)
    return True


def _referral_confirm_post(reward: ReferralReward) -> None:
    remaining = reward.amount - reward.reversed_amount
    reserve = campaign_reserve_account(reward.program.campaign)
    pockets = cash_pockets(reward.inviter_id)
    balances = ledger_balances_lock([reserve, pockets.available, pockets.debt])
    ledger_post(
        kind="referral_confirm",
        idempotency_key=f"referral:order:{reward.order_id}:confirm",
        reference=f"order:{reward.order_id}",
        postings=[Posting(reserve, -remaining), *postings_into_available(pockets, remaining, balances)],
    )


def _reward_lock_after_its_order(reward_id: int) -> ReferralReward:
    """A reviewer's decision locks as a refund does — the order's row, then the reward's — so the two queue behind one
    another instead of deadlocking."""
    order_id = ReferralReward.objects.values_list("order_id", flat=True).get(pk=reward_id)
    list(Order.objects.select_for_update().filter(pk=order_id).values_list("pk", flat=True))
    return (
        ReferralReward.objects.select_for_update(of=("self",))
        .select_related("program__campaign", "order")
        .get(pk=reward_id)
    )


@transaction.atomic
def referral_reward_release_hold(*, reward_id: int, now: datetime | None = None) -> bool:
    """A reviewer cleared a held referral reward: credited now when its holding period is over (or it had none),
    else when the hold ends. False when it was not held (a repeated release does nothing)."""
    now = now or timezone.now()
    reward = _reward_lock_after_its_order(reward_id)
    if not reward.held_for_review:
        return False
    changes: dict = {"held_for_review": False}
    if reward.status == ReferralReward.Status.PENDING and (reward.hold_until or now) <= now:
        _referral_confirm_post(reward)
        changes.update(status=ReferralReward.Status.CREDITED, confirmed_at=now)
    ReferralReward.objects.filter(pk=reward.pk).update(**changes)  # one update of the row (see rebate_release_hold)
    return True


@transaction.atomic
def referral_reward_reverse_remaining(*, reward_id: int, key: str) -> bool:
    """Take back whatever is left of a referral reward (a reviewer rejected it): from the reserve while pending, else
    from the inviter's cash (debt for what it lacks). False when nothing is left."""
    reward = _reward_lock_after_its_order(reward_id)
    reward.held_for_review = False
    gross = reward.order.gross_amount
    return referral_reverse(reward, gross=gross, refunded=gross, key=key) > 0


def referral_rewards_confirm_due(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Beat task body: credit every held referral reward whose hold has ended."""
    now = now or timezone.now()
    due = ReferralReward.objects.filter(
        status=ReferralReward.Status.PENDING, hold_until__lte=now, held_for_review=False
    ).values_list("pk", flat=True)[:limit]
    return sum(referral_reward_confirm(reward_id=pk, now=now) for pk in list(due))


def referral_reverse(reward: ReferralReward, *, gross: Decimal, refunded: Decimal, key: str) -> Decimal:
    """Take back the share of a referral reward that `refunded` (all refunds so far) out of `gross` earned:
    from the campaign's rebate reserve while held, else from the inviter's cash (debt for what it lacks)."""
    if reward.status not in (ReferralReward.Status.PENDING, ReferralReward.Status.CREDITED):
        return ZERO  # unfunded (nothing was paid) or already reversed in full
    target = refunded_share(reward.amount, refunded, gross, CNY)
    units = target - reward.reversed_amount
    if units <= 0:
        return ZERO
    campaign = Campaign(pk=reward.program.campaign_id)
    budget = campaign_budget_account(campaign)
    if reward.status == ReferralReward.Status.PENDING:
        reserve = campaign_reserve_account(campaign)
        ledger_balances_lock([budget, reserve])
        postings = [Posting(reserve, -units), Posting(budget, units)]
    else:
        pockets = cash_pockets(reward.inviter_id)
        balances = ledger_balances_lock([budget, pockets.available, pockets.debt])
        postings = [Posting(budget, units), *claw_back(pockets, units, balances)]
    ledger_post(
        kind="referral_reverse",
        idempotency_key=f"referral:order:{reward.order_id}:reverse:{key}",
        reference=f"order:{reward.order_id}",
        postings=postings,
    )
    reward.reversed_amount = target
    if target == reward.amount:
        reward.status = ReferralReward.Status.REVERSED
    reward.save(update_fields=["reversed_amount", "status", "held_for_review"])
    return units
