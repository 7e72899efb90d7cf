"""Trial feedback (新品試用): a shopper who bought a trial item with the campaign's packet submits feedback; its grade
(reviewer or scoring rule) sets the points reward (campaign budget → points backing; points from outside → the
shopper). Full-size purchases by the same shopper within the window after the trial earn the merchant a
marketing-fee rebate (platform marketing pool → the merchant's marketing credit)."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from common.errors import ApplicationError, Conflict, NotFound
from common.money import CNY, POINTS, ZERO, percent_of, quantize, refunded_share
from packets.models import Order
from rebates.ledger import Posting, ledger_post, platform_account
from rebates.ledger.postings import beneficiary_pockets, ledger_balances_lock, postings_into_available
from rebates.models import AccountKind

from ..models import Campaign, Feedback, TrialAttribution, TrialProgram
from ..selectors import campaign_budget_account
from .shared import ProgramBudgetExhausted, claw_back, order_refunded


class NotATrialOrder(ApplicationError):
    code = "not_a_trial_order"


class FeedbackExists(Conflict):
    code = "feedback_exists"


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


def _fully_refunded(order_id: int) -> bool:
    order = Order.objects.only("gross_amount").get(pk=order_id)
    return order_refunded(order) >= order.gross_amount


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
    refunded = order_refunded(order)
    if refunded:  # refunds that came before this hook ran take their share back at once
        attribution_reverse(attribution, gross=order.gross_amount, refunded=refunded, key="credit")
    return attribution


def attribution_reverse(attribution: TrialAttribution, *, gross: Decimal, refunded: Decimal, key: str) -> Decimal:
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
        postings=[Posting(pool, units), *claw_back(pockets, units, balances)],
    )
    attribution.reversed_amount = target
    if target == attribution.amount:
        attribution.status = TrialAttribution.Status.REVERSED
    attribution.save(update_fields=["reversed_amount", "status"])
    return units


def feedback_reverse(feedback: Feedback, *, now: datetime) -> bool:
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
            *claw_back(pockets, points, balances),
        ],
    )
    Feedback.objects.filter(pk=feedback.pk).update(reversed_at=now)
    return True
