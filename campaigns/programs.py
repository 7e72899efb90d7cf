"""Reward programs beyond the packet's two-way rebate (issue "Rebate lifecycle, every reward form, and payouts", 4–6).

- Referral rebates (雙倍返利): an invitee's orders within N days of signing up earn the inviter a % of the order's
  gross, multiplied by the campaign's multiplier window covering the order. Campaign budget → inviter's cash.
- Milestone rebates (紅包反向系統): a course platform reports an enrolment (its reward, rate × tuition, is reserved
  from the campaign budget at once) and then the student's progress; when the required lessons are done and the
  assessment passed before the deadline, the reserve pays the teacher's cash; past the deadline it is released.
- Trial feedback (新品試用): a shopper who bought a trial item with the campaign's packet submits feedback; its grade
  (reviewer or scoring rule) sets the points reward (campaign budget → points backing; points from outside → the
  shopper). Full-size purchases by the same shopper within the window after the trial earn the merchant a
  marketing-fee rebate (platform marketing pool → the merchant's marketing credit).

Every money move is one `ledger_post` with its own idempotency key, taken under a row lock of the business row
(order, enrolment, feedback) that a unique constraint also stands behind: each effect happens exactly once, however
often a task, request or admin action is repeated. The pure pieces (amounts, windows, grades) take plain data.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Merchant, User
from antifraud.assess import referral_assessment_record, referral_reward_verdict
from antifraud.scoring import ALLOW
from common.errors import ApplicationError, Conflict, NotFound, Unprocessable
from common.money import CNY, POINTS, ZERO, percent_of, quantize, refunded_share
from packets.models import Order, Refund
from rebates.ledger import Posting, ledger_account, ledger_post, platform_account
from rebates.models import AccountKind, LedgerAccount
from rebates.outbox import outbox_mark_done
from rebates.postings import Pockets, beneficiary_pockets, ledger_balances_lock, postings_into_available

from .models import (
    Campaign,
    Enrolment,
    Feedback,
    MilestoneAttestation,
    ReferralProgram,
    ReferralReward,
    TrialAttribution,
    TrialProgram,
)
from .rules import Multiplier
from .selectors import campaign_budget_account, campaign_reserve_account
from .services import campaign_pause_budget_exhausted

# The outbox topic an order's program effects run under (wired in packets.services.order_create and rebates.outbox).
TOPIC_ORDER_PROGRAMS = "order.programs"

ONE = Decimal("1")


# ---------------------------------------------------------------------------------------------------------------------
# Pure pieces: plain data in, amounts and verdicts out. The one rounding rule is common.money's.
# ---------------------------------------------------------------------------------------------------------------------


def referral_amount(*, gross: Decimal, rate: Decimal, multipliers: Sequence[Multiplier], at: datetime):
    """The inviter's rebate on one invitee order: `rate` % of the gross, times the factor of the multiplier window
    covering the order (the first one, as in the rule engine), rounded once. Returns (amount, factor)."""
    window = next((m for m in multipliers if m.covers(at)), None)
    factor = window.factor if window else ONE
    return percent_of(gross, rate * factor), factor


def referral_window_covers(*, signed_up_at: datetime, window_days: int, at: datetime) -> bool:
    """Is an order at `at` within `window_days` of the invitee's sign-up?"""
    return signed_up_at <= at < signed_up_at + timedelta(days=window_days)


def milestone_reward(*, tuition: Decimal, rate: Decimal) -> Decimal:
    return percent_of(tuition, rate)


# Feedback scoring rule. The article asks to scale the reward by the feedback's *quality*: here that is how much
# the shopper wrote (characters that are not white space, so Chinese and English count alike). The rating takes part
# only as a gate — it must be a real 1–5 rating — and never raises or lowers a grade: a rule that paid more for
# 5 stars would pay for praise, and a merchant's trial needs the critical feedback most.
GRADE_A_CHARS = 60
GRADE_B_CHARS = 15


def feedback_auto_grade(*, text: str, rating: int) -> str:
    """A with at least 60 characters, B with at least 15, else C. Raises ValueError for a rating outside 1–5."""
    if not 1 <= rating <= 5:
        raise ValueError("rating must be 1–5")
    chars = sum(1 for ch in text if not ch.isspace())
    if chars >= GRADE_A_CHARS:
        return Feedback.Grade.A
    if chars >= GRADE_B_CHARS:
        return Feedback.Grade.B
    return Feedback.Grade.C


def feedback_points(*, cost: Decimal, points_per_cny: int) -> Decimal:
    return quantize(cost * points_per_cny, POINTS)


@dataclass(frozen=True)
class Line:
    sku: str
    category: str
    total: Decimal


def full_size_base(program: TrialProgram, lines: Iterable[Line]) -> Decimal:
    """What the full-size items of an order cost: the consumption the trial drove (trial items never count)."""
    return sum((line.total for line in lines if program.is_full_size_line(line.sku, line.category)), ZERO)


def has_trial_line(program: TrialProgram, lines: Iterable[Line]) -> bool:
    return any(program.is_trial_line(line.sku, line.category) for line in lines)


def _lines(order: Order) -> list[Line]:
    return [Line(li.sku, li.category, li.unit_price * li.quantity) for li in order.lines.all()]


def _multipliers(campaign: Campaign) -> tuple[Multiplier, ...]:
    return tuple(
        Multiplier(m.starts_at, m.ends_at, m.factor)
        for m in sorted(campaign.multiplier_windows.all(), key=lambda m: m.starts_at)
    )


def _cash_pockets(user_id: int) -> Pockets:
    return beneficiary_pockets(role="holder", form="cash", currency=CNY, user_id=user_id, merchant_id=None)


# ---------------------------------------------------------------------------------------------------------------------
# Errors (stable codes; the API shows them as {code, message, details}).
# ---------------------------------------------------------------------------------------------------------------------


class ProgramNotFound(NotFound):
    code = "program_not_found"


class EnrolmentNotFound(NotFound):
    code = "enrolment_not_found"


class EnrolmentExists(Conflict):
    code = "enrolment_exists"


class EnrolmentExpired(Conflict):
    code = "enrolment_expired"


class EventIdReused(Unprocessable):
    code = "event_id_reused"


class ProgramBudgetExhausted(Conflict):
    code = "budget_exhausted"


class NotATrialOrder(ApplicationError):
    code = "not_a_trial_order"


class FeedbackExists(Conflict):
    code = "feedback_exists"


# ---------------------------------------------------------------------------------------------------------------------
# Referral rebates (雙倍返利)
# ---------------------------------------------------------------------------------------------------------------------


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
        pockets = _cash_pockets(inviter_id)
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
    refunded = _refunded(order)
    if refunded:  # refunds that came before this hook ran take their share back at once
        _referral_reverse(reward, gross=order.gross_amount, refunded=refunded, key="credit")
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
    pockets = _cash_pockets(reward.inviter_id)
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
    return _referral_reverse(reward, gross=gross, refunded=gross, key=key) > 0


def referral_rewards_confirm_due(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Beat task body: credit every held referral reward whose hold has ended."""
    now = now or timezone.now()
    due = ReferralReward.objects.filter(
        status=ReferralReward.Status.PENDING, hold_until__lte=now, held_for_review=False
    ).values_list("pk", flat=True)[:limit]
    return sum(referral_reward_confirm(reward_id=pk, now=now) for pk in list(due))


# ---------------------------------------------------------------------------------------------------------------------
# Milestone ("reverse") rebates (紅包反向系統)
# ---------------------------------------------------------------------------------------------------------------------


@transaction.atomic
def enrolment_create(
    *,
    merchant: Merchant,
    campaign_id: int,
    teacher_id: int,
    student_id: int,
    external_id: str,
    tuition: Decimal,
    lessons_required: int,
    deadline: datetime,
    now: datetime | None = None,
) -> Enrolment:
    """Record an enrolment reported by the course platform (a campaign of its own with a milestone program) and
    reserve the teacher's reward (rate × tuition, fixed now) from the campaign budget into its rebate reserve."""
    now = now or timezone.now()
    campaign = (
        Campaign.objects.select_related("milestone_program")
        .filter(pk=campaign_id, merchant=merchant, milestone_program__isnull=False)
        .first()
    )
    if campaign is None:
        raise ProgramNotFound(_("No such campaign with a milestone program for this course platform."))
    if not campaign.is_live(now):
        raise Conflict(_("The campaign is not running."), code="campaign_not_active")
    users = {u.pk: u for u in User.objects.filter(pk__in=[teacher_id, student_id], is_active=True)}
    if teacher_id not in users or student_id not in users:
        raise NotFound(_("No such teacher or student."), code="user_not_found")
    if teacher_id == student_id:
        raise ApplicationError(_("A teacher cannot enrol as their own student."), code="teacher_is_student")
    if tuition <= 0:
        raise ApplicationError(_("The tuition must be positive."), code="invalid_amount")
    if lessons_required <= 0:
        raise ApplicationError(_("At least one lesson is required."), code="invalid_lessons")
    if deadline <= now:
        raise ApplicationError(_("The deadline must be in the future."), code="invalid_deadline")
    rate = campaign.milestone_program.teacher_rate
    reward = milestone_reward(tuition=tuition, rate=rate)
    if reward <= 0:
        raise ApplicationError(
            _("This tuition earns the teacher nothing at the program's rate."), code="invalid_amount"
        )
    found = Enrolment.objects.filter(campaign=campaign, external_id=external_id).values_list("pk", flat=True).first()
    if found:
        raise EnrolmentExists(_("This enrolment was already reported."), details={"id": found})

    budget, reserve = campaign_budget_account(campaign), campaign_reserve_account(campaign)
    balances = ledger_balances_lock([budget, reserve])
    if balances[budget.pk] < reward:
        raise ProgramBudgetExhausted(_("The campaign budget cannot cover this enrolment's reward."))
    try:
        with transaction.atomic():  # a savepoint: a concurrent report of the same enrolment loses cleanly
            enrolment = Enrolment.objects.create(
                campaign=campaign,
                teacher_id=teacher_id,
                student_id=student_id,
                external_id=external_id,
                tuition=tuition,
                lessons_required=lessons_required,
                deadline=deadline,
                rate=rate,
                reward=reward,
            )
    except IntegrityError as exc:
        raise EnrolmentExists(_("This enrolment was already reported.")) from exc
    ledger_post(
        kind="milestone_reserve",
        idempotency_key=f"enrolment:{enrolment.pk}:reserve",
        reference=f"enrolment:{enrolment.pk}",
        postings=[Posting(budget, -reward), Posting(reserve, reward)],
    )
    return enrolment


def enrolment_reply(enrolment: Enrolment, *, event_id: str = "") -> dict:
    """The JSON a course platform gets back (stored with each attestation, so a replay gets the same reply)."""
    return {
        "id": enrolment.pk,
        "external_id": enrolment.external_id,
        "status": enrolment.status,
        "lessons_required": enrolment.lessons_required,
        "lessons_completed": enrolment.lessons_completed,
        "assessment_passed": enrolment.assessment_passed,
        "tuition": str(enrolment.tuition),
        "rate": str(enrolment.rate),
        "reward": str(enrolment.reward),
        "deadline": enrolment.deadline.isoformat(),
        "paid_at": enrolment.paid_at.isoformat() if enrolment.paid_at else None,
        **({"event_id": event_id} if event_id else {}),
    }


@transaction.atomic
def enrolment_attest(
    *,
    merchant: Merchant,
    enrolment_id: int,
    event_id: str,
    lessons_completed: int,
    assessment_passed: bool,
    now: datetime | None = None,
) -> tuple[dict, bool]:
    """Record the course platform's progress report; when the student has done the required lessons and passed,
    pay the teacher from the reserve — once. Returns (reply, replayed).

    Progress only moves forward (the most lessons reported, passed once passed), so reports may arrive in any
    order. `event_id` is unique per course platform: the same event again gets its stored reply and changes
    nothing; the same id with another payload is refused (422). Past the deadline nothing is recorded (409)."""
    now = now or timezone.now()
    enrolment = (
        Enrolment.objects.select_for_update(of=("self",))
        .select_related("campaign")
        .filter(pk=enrolment_id, campaign__merchant=merchant)
        .first()
    )
    if enrolment is None:
        raise EnrolmentNotFound(_("No such enrolment."))
    prior = MilestoneAttestation.objects.filter(merchant=merchant, event_id=event_id).first()
    if prior is not None:
        if (prior.enrolment_id, prior.lessons_completed, prior.assessment_passed) == (
            enrolment.pk,
            lessons_completed,
            assessment_passed,
        ):
            return prior.reply, True
        raise EventIdReused(_("This event id was already used for another report."), details={"event_id": event_id})
    if enrolment.status == Enrolment.Status.EXPIRED or (
        enrolment.status == Enrolment.Status.PENDING and enrolment.deadline <= now
    ):
        raise EnrolmentExpired(
            _("The enrolment's deadline has passed."), details={"deadline": enrolment.deadline.isoformat()}
        )
    try:
        with transaction.atomic():  # a concurrent report with this event id on another enrolment: refused cleanly
            attestation = MilestoneAttestation.objects.create(
                merchant=merchant,
                enrolment=enrolment,
                event_id=event_id,
                lessons_completed=lessons_completed,
                assessment_passed=assessment_passed,
                reply={},
            )
    except IntegrityError as exc:
        raise EventIdReused(_("This event id was already used for another report.")) from exc

    enrolment.lessons_completed = max(enrolment.lessons_completed, lessons_completed)
    enrolment.assessment_passed = enrolment.assessment_passed or assessment_passed
    if enrolment.status == Enrolment.Status.PENDING and enrolment.milestone_met:
        _enrolment_pay(enrolment, now=now)
    enrolment.save(update_fields=["lessons_completed", "assessment_passed", "status", "paid_at"])
    reply = enrolment_reply(enrolment, event_id=event_id)
    MilestoneAttestation.objects.filter(pk=attestation.pk).update(reply=reply)
    return reply, False


def _enrolment_pay(enrolment: Enrolment, *, now: datetime) -> None:
    reserve = campaign_reserve_account(enrolment.campaign)
    pockets = _cash_pockets(enrolment.teacher_id)
    balances = ledger_balances_lock([reserve, pockets.available, pockets.debt])
    ledger_post(
        kind="milestone_reward",
        idempotency_key=f"enrolment:{enrolment.pk}:pay",
        reference=f"enrolment:{enrolment.pk}",
        postings=[Posting(reserve, -enrolment.reward), *postings_into_available(pockets, enrolment.reward, balances)],
    )
    enrolment.status = Enrolment.Status.PAID
    enrolment.paid_at = now


def _campaign_funder(campaign: Campaign) -> LedgerAccount:
    if campaign.merchant_id:
        return ledger_account(kind=AccountKind.MERCHANT_DEPOSIT, merchant_id=campaign.merchant_id)
    return platform_account(AccountKind.PLATFORM_MARKETING_POOL)


@transaction.atomic
def enrolment_expire(*, enrolment_id: int, now: datetime | None = None) -> bool:
    """The deadline passed without the milestone: the enrolment expires and its reserved reward goes back to the
    campaign budget (or, when the campaign has ended and released its budget, to whoever funded it). Once."""
    now = now or timezone.now()
    enrolment = Enrolment.objects.select_for_update().get(pk=enrolment_id)
    if enrolment.status != Enrolment.Status.PENDING or enrolment.deadline > now:
        return False
    budget = campaign_budget_account(Campaign(pk=enrolment.campaign_id))
    reserve = campaign_reserve_account(Campaign(pk=enrolment.campaign_id))
    ledger_balances_lock(
        [budget, reserve]
    )  # ending a campaign locks its budget first: its status, read now, is settled
    campaign = Campaign.objects.get(pk=enrolment.campaign_id)
    destination = _campaign_funder(campaign) if campaign.status == Campaign.Status.ENDED else budget
    ledger_post(
        kind="milestone_release",
        idempotency_key=f"enrolment:{enrolment.pk}:release",
        reference=f"enrolment:{enrolment.pk}",
        postings=[Posting(reserve, -enrolment.reward), Posting(destination, enrolment.reward)],
    )
    Enrolment.objects.filter(pk=enrolment.pk).update(status=Enrolment.Status.EXPIRED, expired_at=now)
    return True


def enrolments_expire_due(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Beat task body: expire every pending enrolment past its deadline."""
    now = now or timezone.now()
    due = Enrolment.objects.filter(status=Enrolment.Status.PENDING, deadline__lte=now).values_list("pk", flat=True)[
        :limit
    ]
    return sum(enrolment_expire(enrolment_id=pk, now=now) for pk in list(due))


# ---------------------------------------------------------------------------------------------------------------------
# Trial feedback rewards and marketing-fee attribution (新品試用)
# ---------------------------------------------------------------------------------------------------------------------


def trial_program_for_order(order: Order) -> TrialProgram | None:
    """The trial program an order was a trial purchase under: bought with a packet of the program's campaign,
    with at least one trial item."""
    if not order.packet_id:
        return None
    program = TrialProgram.objects.filter(campaign_id=order.packet.campaign_id).select_related("campaign").first()
    if program is None or not has_trial_line(program, _lines(order)):
        return None
    return program


@transaction.atomic
def feedback_submit(*, shopper: User, order_id: int, text: str, rating: int) -> Feedback:
    """The shopper's feedback on their trial order: one per order. Graded at once by the scoring rule when the
    program says so (a budget that cannot cover the reward leaves it for a reviewer), else by a reviewer."""
    order = (
        Order.objects.select_for_update(of=("self",))
        .select_related("packet")
        .filter(pk=order_id, shopper=shopper)
        .first()
    )
    if order is None:
        raise NotFound(_("No such order."), code="order_not_found")
    program = trial_program_for_order(order)
    if program is None:
        raise NotATrialOrder(_("Feedback is for orders bought with a trial packet."))
    if Feedback.objects.filter(order=order).exists():
        raise FeedbackExists(_("This order already has feedback."))
    text = text.strip()
    if not text:
        raise ApplicationError(_("Write something about the product."), code="feedback_empty")
    if not 1 <= rating <= 5:
        raise ApplicationError(_("The rating is 1 to 5."), code="invalid_rating")
    feedback = Feedback.objects.create(program=program, order=order, shopper=shopper, text=text, rating=rating)
    if program.auto_grade:
        try:
            with transaction.atomic():
                _feedback_grade_locked(
                    feedback,
                    grade=feedback_auto_grade(text=text, rating=rating),
                    graded_by=Feedback.GradedBy.RULE,
                    reviewer=None,
                )
        except ProgramBudgetExhausted:
            feedback.refresh_from_db()
    return feedback


@transaction.atomic
def feedback_grade(
    *, feedback_id: int, grade: str | None = None, reviewer: User | None = None, now: datetime | None = None
) -> tuple[Feedback, bool]:
    """Grade one feedback (a reviewer's grade, or the scoring rule's when `grade` is None) and pay its reward, once:
    graded feedback is final. Returns (feedback, whether this call graded it)."""
    feedback = Feedback.objects.select_for_update(of=("self",)).select_related("program__campaign").get(pk=feedback_id)
    if feedback.grade:
        return feedback, False
    if grade is None:
        grade, graded_by = feedback_auto_grade(text=feedback.text, rating=feedback.rating), Feedback.GradedBy.RULE
    else:
        graded_by = Feedback.GradedBy.REVIEWER
    if grade not in Feedback.Grade.values:
        raise ApplicationError(_("Unknown grade %(grade)s.") % {"grade": repr(grade)}, code="invalid_grade")
    _feedback_grade_locked(feedback, grade=grade, graded_by=graded_by, reviewer=reviewer, now=now)
    return feedback, True


def _feedback_grade_locked(
    feedback: Feedback, *, grade: str, graded_by: str, reviewer: User | None, now: datetime | None = None
) -> None:
    program = feedback.program
    cost = program.reward_for(grade)
    points = feedback_points(cost=cost, points_per_cny=program.points_per_cny)
    if cost > 0 and _fully_refunded(feedback.order_id):
        # The trial was returned before grading: the grade stands, the reward is not paid (a refund that comes
        # after grading takes it back, see `programs_reverse_for_refund`).
        cost = points = ZERO
    if cost > 0 and points > 0:
        budget = campaign_budget_account(program.campaign)
        backing = platform_account(AccountKind.POINTS_BACKING)
        external = platform_account(AccountKind.PLATFORM_EXTERNAL, POINTS)
        pockets = beneficiary_pockets(
            role="holder", form="points", currency=POINTS, user_id=feedback.shopper_id, merchant_id=None
        )
        balances = ledger_balances_lock([budget, backing, external, pockets.available, pockets.debt])
        if balances[budget.pk] < cost:
            raise ProgramBudgetExhausted(_("The campaign budget cannot cover this feedback's reward."))
        # The cash cost backs the points; the points themselves are issued from the outside world.
        txn, _created = ledger_post(
            kind="trial_feedback_reward",
            idempotency_key=f"trial:feedback:{feedback.pk}:reward",
            reference=f"feedback:{feedback.pk}",
            postings=[
                Posting(budget, -cost),
                Posting(backing, cost),
                Posting(external, -points),
                *postings_into_available(pockets, points, balances),
            ],
        )
        feedback.ledger_transaction = txn
        feedback.reward_cost, feedback.reward_points = cost, int(points)
    feedback.grade, feedback.graded_by, feedback.reviewer = grade, graded_by, reviewer
    feedback.graded_at = now or timezone.now()
    feedback.save(
        update_fields=[
            "grade",
            "graded_by",
            "reviewer",
            "graded_at",
            "reward_cost",
            "reward_points",
            "ledger_transaction",
        ]
    )


def _trial_order_for(program: TrialProgram, order: Order) -> Order | None:
    """The shopper's latest trial order under the program that the window still covers, before this order."""
    since = order.created_at - timedelta(days=program.attribution_days)
    candidates = (
        Order.objects.filter(
            shopper_id=order.shopper_id,
            packet__campaign_id=program.campaign_id,
            created_at__gte=since,
            created_at__lt=order.created_at,
        )
        .exclude(pk=order.pk)
        .prefetch_related("lines")
        .order_by("-created_at", "-pk")
    )
    return next((c for c in candidates if has_trial_line(program, _lines(c))), None)


@transaction.atomic
def trial_attribution_for_order(*, order_id: int) -> TrialAttribution | None:
    """A full-size purchase within the window after the same shopper's trial order earns the trial's merchant its
    marketing-fee rate % of the full-size items, from the platform marketing pool into its marketing credit
    (netting any debt). Once per order: the order row lock, a unique order on the attribution and the ledger key
    `trial:attribution:order:<id>`. Returns the attribution, or None when the order is not a driven purchase."""
    order = Order.objects.select_for_update(of=("self",)).get(pk=order_id)
    existing = TrialAttribution.objects.filter(order=order).first()
    if existing is not None:
        return existing
    lines = _lines(order)
    for program in (
        TrialProgram.objects.filter(campaign__merchant_id=order.merchant_id, merchant_fee_rate__gt=0)
        .select_related("campaign")
        .order_by("pk")
    ):
        base = full_size_base(program, lines)
        if base <= 0:
            continue
        trial_order = _trial_order_for(program, order)
        if trial_order is None:
            continue
        amount = percent_of(base, program.merchant_fee_rate)
        if amount <= 0:
            return None
        return _attribute(program, order, trial_order, base, amount)
    return None


def _attribute(
    program: TrialProgram, order: Order, trial_order: Order, base: Decimal, amount: Decimal
) -> TrialAttribution:
    merchant_id = program.campaign.merchant_id
    pool = platform_account(AccountKind.PLATFORM_MARKETING_POOL)
    pockets = beneficiary_pockets(
        role="issuer", form="marketing_credit", currency=CNY, user_id=None, merchant_id=merchant_id
    )
    balances = ledger_balances_lock([pool, pockets.available, pockets.debt])
    attribution = TrialAttribution(
        program=program,
        order=order,
        trial_order=trial_order,
        merchant_id=merchant_id,
        base=base,
        rate=program.merchant_fee_rate,
        amount=amount,
    )
    if balances[pool.pk] < amount:
        attribution.status = TrialAttribution.Status.UNFUNDED
    else:
        attribution.ledger_transaction, _ = ledger_post(
            kind="trial_attribution",
            idempotency_key=f"trial:attribution:order:{order.pk}",
            reference=f"order:{order.pk}",
            postings=[Posting(pool, -amount), *postings_into_available(pockets, amount, balances)],
        )
        attribution.status = TrialAttribution.Status.CREDITED
    attribution.save()
    refunded = _refunded(order)
    if refunded:  # refunds that came before this hook ran take their share back at once
        _attribution_reverse(attribution, gross=order.gross_amount, refunded=refunded, key="credit")
    return attribution


# ---------------------------------------------------------------------------------------------------------------------
# Refunds: the share of a program reward that the refunded amount earned is taken back
# ---------------------------------------------------------------------------------------------------------------------
#
# The rules are the packet rebates' (`rebates.services.rebates_reverse_for_refund`): the reversed share is cumulative
# (`reversed_amount` = amount × refunded / gross, rounded once), so partial refunds never add up to more than the
# reward; value still held is voided back to its funder; credited value is taken from the beneficiary's available
# balance and what the balance no longer holds (paid out, spent) becomes a debt netted from later rewards — never
# silently lost. Each step is one ledger transaction keyed by the refund, under the reward row's lock.


def _refunded(order: Order) -> Decimal:
    return sum(Refund.objects.filter(order_id=order.pk).values_list("amount", flat=True), start=ZERO)


def _fully_refunded(order_id: int) -> bool:
    order = Order.objects.only("gross_amount").get(pk=order_id)
    return _refunded(order) >= order.gross_amount


def _claw_back(pockets: Pockets, units: Decimal, balances: dict[int, Decimal]) -> list[Posting]:
    """Take `units` from the available balance; what it does not hold becomes debt."""
    taken = min(units, max(balances[pockets.available.pk], ZERO))
    postings = [Posting(pockets.available, -taken)] if taken else []
    if units - taken:
        postings.append(Posting(pockets.debt, -(units - taken)))
    return postings


def _referral_reverse(reward: ReferralReward, *, gross: Decimal, refunded: Decimal, key: str) -> Decimal:
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
        pockets = _cash_pockets(reward.inviter_id)
        balances = ledger_balances_lock([budget, pockets.available, pockets.debt])
        postings = [Posting(budget, units), *_claw_back(pockets, units, balances)]
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


def _attribution_reverse(attribution: TrialAttribution, *, gross: Decimal, refunded: Decimal, key: str) -> Decimal:
    """Take back the share of a marketing-fee rebate that the refunded amount earned: from the merchant's
    marketing credit into the platform marketing pool (merchant debt for what the credit lacks)."""
    if attribution.status != TrialAttribution.Status.CREDITED:
        return ZERO
    target = refunded_share(attribution.amount, refunded, gross, CNY)
    units = target - attribution.reversed_amount
    if units <= 0:
        return ZERO
    pool = platform_account(AccountKind.PLATFORM_MARKETING_POOL)
    pockets = beneficiary_pockets(
        role="issuer", form="marketing_credit", currency=CNY, user_id=None, merchant_id=attribution.merchant_id
    )
    balances = ledger_balances_lock([pool, pockets.available, pockets.debt])
    ledger_post(
        kind="trial_attribution_reverse",
        idempotency_key=f"trial:attribution:order:{attribution.order_id}:reverse:{key}",
        reference=f"order:{attribution.order_id}",
        postings=[Posting(pool, units), *_claw_back(pockets, units, balances)],
    )
    attribution.reversed_amount = target
    if target == attribution.amount:
        attribution.status = TrialAttribution.Status.REVERSED
    attribution.save(update_fields=["reversed_amount", "status"])
    return units


def _feedback_reverse(feedback: Feedback, *, now: datetime) -> bool:
    """The trial order was refunded in full: the feedback reward goes back — its cost to the campaign budget, its
    points from the shopper (points debt for what they already spent). Once."""
    if feedback.ledger_transaction_id is None or feedback.reversed_at is not None:
        return False
    cost, points = feedback.reward_cost, Decimal(feedback.reward_points)
    budget = campaign_budget_account(Campaign(pk=feedback.program.campaign_id))
    backing = platform_account(AccountKind.POINTS_BACKING)
    external = platform_account(AccountKind.PLATFORM_EXTERNAL, POINTS)
    pockets = beneficiary_pockets(
        role="holder", form="points", currency=POINTS, user_id=feedback.shopper_id, merchant_id=None
    )
    balances = ledger_balances_lock([budget, backing, external, pockets.available, pockets.debt])
    ledger_post(
        kind="trial_feedback_reverse",
        idempotency_key=f"trial:feedback:{feedback.pk}:reverse",
        reference=f"feedback:{feedback.pk}",
        postings=[
            Posting(budget, cost),
            Posting(backing, -cost),
            Posting(external, points),
            *_claw_back(pockets, points, balances),
        ],
    )
    Feedback.objects.filter(pk=feedback.pk).update(reversed_at=now)
    return True


def programs_reverse_for_refund(*, order: Order, refunded_now: Decimal, refund_id: int) -> int:
    """Reverse the program rewards of a refunded order: the refunded share of its referral reward and of its
    marketing-fee rebate; on a full refund of a trial order, its feedback reward. Called by the refund service inside
    its transaction, with the order row locked (the program hook takes the same lock, so a hook that runs later
    sees the refund and reverses at once). Returns how many rewards moved."""
    key, gross, moved = f"refund:{refund_id}", order.gross_amount, 0
    reward = ReferralReward.objects.select_for_update().select_related("program").filter(order_id=order.pk).first()
    if reward is not None:
        moved += bool(_referral_reverse(reward, gross=gross, refunded=refunded_now, key=key))
    attribution = TrialAttribution.objects.select_for_update().filter(order_id=order.pk).first()
    if attribution is not None:
        moved += bool(_attribution_reverse(attribution, gross=gross, refunded=refunded_now, key=key))
    if refunded_now >= gross:
        feedback = Feedback.objects.select_for_update().select_related("program").filter(order_id=order.pk).first()
        if feedback is not None:
            moved += _feedback_reverse(feedback, now=timezone.now())
    return moved


# ---------------------------------------------------------------------------------------------------------------------
# The order hook (outbox consumer)
# ---------------------------------------------------------------------------------------------------------------------


def order_needs_programs(order: Order) -> bool:
    """Could this order earn a referral or a trial attribution? The order flow writes its `order.programs` outbox row
    only then, so orders outside every program leave no outbox work behind. Cheap: two indexed EXISTS queries."""
    invited = User.objects.filter(pk=order.shopper_id, invited_by__isnull=False).exists()
    if (
        invited
        and ReferralProgram.objects.filter(
            Q(campaign__merchant_id=order.merchant_id) | Q(campaign__merchant__isnull=True),
            campaign__status=Campaign.Status.ACTIVE,
        ).exists()
    ):
        return True
    return TrialProgram.objects.filter(campaign__merchant_id=order.merchant_id, merchant_fee_rate__gt=0).exists()


@transaction.atomic
def programs_for_order(*, order_id: int) -> dict:
    """Every program effect of one order, then its outbox row marked done — in one transaction, so the row is done
    exactly when the effects are committed. Safe to run any number of times."""
    referral = referral_reward_for_order(order_id=order_id)
    attribution = trial_attribution_for_order(order_id=order_id)
    outbox_mark_done(topic=TOPIC_ORDER_PROGRAMS, ref_id=order_id)
    return {"referral_reward": referral and referral.pk, "trial_attribution": attribution and attribution.pk}


# ---------------------------------------------------------------------------------------------------------------------
# Audit: the program rows and the ledger agree (registered with rebates.audit by CampaignsConfig.ready).
# ---------------------------------------------------------------------------------------------------------------------


def programs_audit_checks() -> dict[str, list[str]]:
    return {"program rewards match the ledger": programs_audit()}


def programs_audit() -> list[str]:
    """Every paid program row has exactly one ledger transaction under its key, and every key has its row; every
    reversed share has its reversing transactions, which moved exactly that share from the beneficiary (or, for a
    held referral reward, from the campaign's rebate reserve)."""
    from rebates.models import Entry, LedgerTransaction

    findings: list[str] = []
    expected: dict[str, str] = {}
    held = set(
        Entry.objects.filter(transaction__kind="referral_reward", account__kind=AccountKind.REBATE_RESERVE).values_list(
            "transaction__idempotency_key", flat=True
        )
    )
    reversed_orders: dict[str, set[int]] = {"referral": set(), "attribution": set()}
    for r in ReferralReward.objects.exclude(status=ReferralReward.Status.UNFUNDED).values(
        "pk", "order_id", "confirmed_at", "reversed_amount"
    ):
        key = f"referral:order:{r['order_id']}"
        expected[key] = f"referral reward {r['pk']}"
        if r["confirmed_at"] is not None and key in held:
            expected[f"{key}:confirm"] = f"referral reward {r['pk']} (confirmed after its hold)"
        if r["reversed_amount"] > 0:
            reversed_orders["referral"].add(r["order_id"])
    for e in Enrolment.objects.values("pk", "status"):
        expected[f"enrolment:{e['pk']}:reserve"] = f"enrolment {e['pk']}"
        if e["status"] == Enrolment.Status.PAID:
            expected[f"enrolment:{e['pk']}:pay"] = f"enrolment {e['pk']} (paid)"
        if e["status"] == Enrolment.Status.EXPIRED:
            expected[f"enrolment:{e['pk']}:release"] = f"enrolment {e['pk']} (released)"
    for pk, reversed_at in Feedback.objects.filter(ledger_transaction__isnull=False).values_list("pk", "reversed_at"):
        expected[f"trial:feedback:{pk}:reward"] = f"feedback {pk}"
        if reversed_at is not None:
            expected[f"trial:feedback:{pk}:reverse"] = f"feedback {pk} (reward reversed)"
    for a in TrialAttribution.objects.exclude(status=TrialAttribution.Status.UNFUNDED).values(
        "pk", "order_id", "reversed_amount"
    ):
        expected[f"trial:attribution:order:{a['order_id']}"] = f"trial attribution {a['pk']}"
        if a["reversed_amount"] > 0:
            reversed_orders["attribution"].add(a["order_id"])
    kinds = [
        "referral_reward",
        "referral_confirm",
        "milestone_reserve",
        "milestone_reward",
        "milestone_release",
        "trial_feedback_reward",
        "trial_feedback_reverse",
        "trial_attribution",
    ]
    posted = set(LedgerTransaction.objects.filter(kind__in=kinds).values_list("idempotency_key", flat=True))
    findings += [f"{what} has no ledger transaction {key}" for key, what in expected.items() if key not in posted]
    findings += [f"ledger transaction {key} has no program row" for key in sorted(posted - set(expected))]
    # Partial reversals post one transaction per refund: each must belong to a row that says it was reversed.
    for kind, what in (("referral_reverse", "referral"), ("trial_attribution_reverse", "attribution")):
        for key, reference in LedgerTransaction.objects.filter(kind=kind).values_list("idempotency_key", "reference"):
            order_id = int(reference.removeprefix("order:")) if reference.startswith("order:") else None
            if order_id not in reversed_orders[what]:
                findings.append(f"ledger transaction {key} reverses a {what} reward that is not reversed")
    findings += _program_reversals_mismatch()
    return findings


def _program_reversals_mismatch() -> list[str]:
    """What each program reward says was reversed left its beneficiary's own accounts (available or debt) — or,
    for a referral reward still held, the campaign's rebate reserve — through its reversing transactions."""
    from django.db import connection

    queries = {
        "referral reward": """
            SELECT r.id, r.reversed_amount AS said, COALESCE(-SUM(e.amount) FILTER (WHERE
                     (a.kind IN ('shopper_cash', 'shopper_debt') AND a.user_id = r.inviter_id AND a.currency = 'CNY')
                  OR (a.kind = 'rebate_reserve' AND a.campaign_id = p.campaign_id)), 0)::numeric(14, 2) AS moved
            FROM campaigns_referralreward r JOIN campaigns_referralprogram p ON p.id = r.program_id
            LEFT JOIN rebates_ledgertransaction t
                   ON t.reference = 'order:' || r.order_id AND t.kind = 'referral_reverse'
            LEFT JOIN rebates_entry e ON e.transaction_id = t.id
            LEFT JOIN rebates_ledgeraccount a ON a.id = e.account_id
            GROUP BY r.id""",
        "trial attribution": """
            SELECT r.id, r.reversed_amount AS said, COALESCE(-SUM(e.amount) FILTER (WHERE
                     a.kind IN ('merchant_marketing_credit', 'merchant_debt') AND a.merchant_id = r.merchant_id), 0)
                   ::numeric(14, 2) AS moved
            FROM campaigns_trialattribution r
            LEFT JOIN rebates_ledgertransaction t
                   ON t.reference = 'order:' || r.order_id AND t.kind = 'trial_attribution_reverse'
            LEFT JOIN rebates_entry e ON e.transaction_id = t.id
            LEFT JOIN rebates_ledgeraccount a ON a.id = e.account_id
            GROUP BY r.id""",
        "feedback": """
            SELECT r.id, CASE WHEN r.reversed_at IS NULL THEN 0 ELSE r.reward_points END AS said,
                   COALESCE(-SUM(e.amount) FILTER (WHERE
                     a.kind IN ('shopper_points', 'shopper_debt') AND a.user_id = r.shopper_id
                     AND a.currency = 'POINTS'), 0)::numeric(14, 2) AS moved
            FROM campaigns_feedback r
            LEFT JOIN rebates_ledgertransaction t
                   ON t.reference = 'feedback:' || r.id AND t.kind = 'trial_feedback_reverse'
            LEFT JOIN rebates_entry e ON e.transaction_id = t.id
            LEFT JOIN rebates_ledgeraccount a ON a.id = e.account_id
            WHERE r.ledger_transaction_id IS NOT NULL
            GROUP BY r.id""",
    }
    findings = []
    with connection.cursor() as cursor:
        for what, sql in queries.items():
            cursor.execute(f"SELECT * FROM ({sql}) x WHERE x.said <> x.moved LIMIT 100")
            findings += [f"{what} {pk} says {said} reversed, its reversals moved {moved}" for pk, said, moved in cursor]
    return findings
