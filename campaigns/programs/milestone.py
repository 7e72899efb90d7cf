"""Milestone ("reverse") rebates (紅包反向系統): a course platform reports an enrolment (its reward, rate × tuition,
is reserved from the campaign budget at once) and then the student's progress; when the required lessons are done and
the assessment passed before the deadline, the reserve pays the teacher's cash; past the deadline it is released."""

from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Merchant, User
from common.errors import ApplicationError, Conflict, NotFound, Unprocessable
from common.money import percent_of
from rebates.ledger import Posting, ledger_account, ledger_post, platform_account
from rebates.ledger.postings import ledger_balances_lock, postings_into_available
from rebates.models import AccountKind, LedgerAccount

from ..models import Campaign, Enrolment, MilestoneAttestation
from ..selectors import campaign_budget_account, campaign_reserve_account
from .shared import ProgramBudgetExhausted, cash_pockets


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


def milestone_reward(*, tuition: Decimal, rate: Decimal) -> Decimal:
    return percent_of(tuition, rate)


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
    pockets = cash_pockets(enrolment.teacher_id)
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
