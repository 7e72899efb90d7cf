"""The customer-service trace (docs/REPORTS.md, "Operations"): find orders by order number, shopper phone or packet
code, and lay out each one's timeline — order → packet → redemption → risk verdict → rebates (held, credited,
reversed) → refunds → payouts — with who acted and when. Reads only; the caller's scope (a merchant's staff: their
merchant's orders) is applied to every search."""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from accounts.selectors import is_platform_operator, scoped_to_merchant
from antifraud.models import ReviewAction, RiskAssessment
from packets.codes import normalize as normalize_code
from packets.models import Order, Packet
from rebates.models import LedgerTransaction, Rebate
from rebates.payouts.models import Payout

TRACE_MAX_ORDERS = 20


@dataclass(frozen=True)
class TraceStep:
    kind: str  # ordered, packet_issued, packet_spent, assessed, rebate_computed, rebate_held, review, rebate_credited,
    # rebate_reversed, refund, earned, not_issued, payout
    at: datetime | None
    title: str
    actor: str  # who acted: a user's name, a merchant, or the system
    detail: str = ""
    state: str = "done"  # done | waiting | reversed


@dataclass
class OrderTrace:
    order: Order
    steps: list[TraceStep] = field(default_factory=list)


def _user_label(user) -> str:
    if user is None:
        return _("system")
    return user.phone or user.email or user.username


def trace_orders_find(*, user, query: str) -> QuerySet[Order]:
    """The caller's visible orders matching `query`: an order number exactly, a shopper's phone exactly, or a packet
    code (the order that spent it, and the order that earned it). Newest first, at most TRACE_MAX_ORDERS."""
    query = query.strip()
    if not query:
        return Order.objects.none()
    # A code as typed (any case, spaces, dashes, O for 0) or exactly as stored.
    packets = Packet.objects.filter(code__in={query, normalize_code(query) or query})
    matching = (
        Q(order_no=query)
        | Q(shopper__phone=query)
        | Q(packet__in=packets)
        | Q(pk__in=packets.exclude(source_order=None).values("source_order"))
    )
    visible = scoped_to_merchant(Order.objects.all(), user, "merchant")
    return (
        visible.filter(matching)
        .select_related("merchant", "shopper", "packet__campaign")
        .order_by("-created_at")[:TRACE_MAX_ORDERS]
    )


def _rebate_steps(rebate: Rebate) -> list[TraceStep]:
    beneficiary = (
        rebate.beneficiary_merchant.name if rebate.beneficiary_merchant_id else _user_label(rebate.beneficiary_user)
    )
    what = {
        "role": rebate.get_role_display(),
        "amount": f"{rebate.amount} {rebate.currency}",
        "form": rebate.get_form_display(),
        "who": beneficiary,
    }
    steps = [
        TraceStep(
            "rebate_computed",
            rebate.created_at,
            _("%(role)s rebate computed: %(amount)s (%(form)s) for %(who)s") % what,
            _("rebate worker"),
        )
    ]
    if rebate.held_for_review:
        steps.append(
            TraceStep("rebate_held", rebate.created_at, _("Held for review"), _("anti-fraud"), state="waiting")
        )
    elif rebate.hold_until and rebate.status == Rebate.Status.PENDING:
        steps.append(
            TraceStep(
                "rebate_held",
                rebate.hold_until,
                _("Pending until the holding period ends"),
                _("system"),
                state="waiting",
            )
        )
    for action in ReviewAction.objects.filter(target=f"rebate:{rebate.pk}").select_related("actor").order_by("pk"):
        steps.append(
            TraceStep(
                "review",
                action.created_at,
                _("Review: %(action)s") % {"action": action.get_action_display()},
                _user_label(action.actor),
                action.reason,
                state="reversed" if action.action == ReviewAction.Action.REJECT else "done",
            )
        )
    if rebate.status != Rebate.Status.PENDING and rebate.confirmed_at:
        steps.append(
            TraceStep("rebate_credited", rebate.confirmed_at, _("%(role)s rebate credited") % what, _("system"))
        )
    elif rebate.status == Rebate.Status.CREDITED:
        steps.append(TraceStep("rebate_credited", rebate.created_at, _("%(role)s rebate credited") % what, _("system")))
    reversals = LedgerTransaction.objects.filter(kind="rebate_reverse", reference=f"rebate:{rebate.pk}").order_by("pk")
    for reversal in reversals:
        # The key is rebate:<id>:reverse:<cause>; the cause (refund:…, review:…) says why.
        cause = reversal.idempotency_key.split(":reverse:", 1)[-1]
        steps.append(
            TraceStep(
                "rebate_reversed",
                reversal.created_at,
                _("%(role)s rebate reversed") % what,
                _("system"),
                cause,
                state="reversed",
            )
        )
    return steps


def _payout_steps(order: Order, rebates: list[Rebate]) -> list[TraceStep]:
    """The shopper's payouts from the first credit of this order's cash rebate on: where the cashback went next."""
    credited = [r.confirmed_at or r.created_at for r in rebates if r.beneficiary_user_id == order.shopper_id]
    if not credited:
        return []
    payouts = Payout.objects.filter(beneficiary_id=order.shopper_id, created_at__gte=min(credited)).order_by("pk")
    steps = []
    for payout in payouts[:5]:
        detail = payout.fail_reason or payout.last_error[:120]
        steps.append(
            TraceStep(
                "payout",
                payout.created_at,
                _("Payout %(bill)s of %(amount)s to %(channel)s: %(status)s")
                % {
                    "bill": payout.out_bill_no,
                    "amount": payout.amount,
                    "channel": payout.get_channel_display(),
                    "status": payout.get_status_display(),
                },
                _user_label(order.shopper),
                detail,
                state="reversed"
                if payout.status == Payout.Status.FAILED
                else "done"
                if payout.completed_at
                else "waiting",
            )
        )
    return steps


def order_trace(order: Order, *, with_payouts: bool = True) -> OrderTrace:
    """One order's timeline, in the order things happen to it (not sorted by clock: the steps one transaction
    writes carry times a few milliseconds apart)."""
    trace = OrderTrace(order)
    steps = trace.steps
    steps.append(
        TraceStep(
            "ordered",
            order.created_at,
            _("Order %(no)s placed: gross %(gross)s, paid %(paid)s")
            % {"no": order.order_no, "gross": order.gross_amount, "paid": order.amount_paid},
            order.merchant.name,
            _("shopper %(who)s") % {"who": _user_label(order.shopper)},
        )
    )
    redemption = getattr(order, "redemption", None) if order.packet_id else None
    rebates: list[Rebate] = []
    if order.packet_id:
        packet = order.packet
        steps.append(
            TraceStep(
                "packet_issued",
                packet.issued_at,
                _("Packet %(code)s (%(amount)s) issued through %(channel)s, campaign %(campaign)s")
                % {
                    "code": packet.code,
                    "amount": packet.amount,
                    "channel": packet.channel,
                    "campaign": packet.campaign.name,
                },
                _user_label(packet.issuer_user) if packet.issuer_user_id else packet.campaign.name,
            )
        )
    if redemption is not None:
        steps.append(
            TraceStep(
                "packet_spent",
                redemption.used_at,
                _("Packet spent on the order (discount %(discount)s)") % {"discount": order.discount},
                _user_label(order.shopper),
            )
        )
        assessment = RiskAssessment.objects.filter(
            subject=RiskAssessment.Subject.REDEMPTION, redemption=redemption
        ).first()
        if assessment is not None:
            steps.append(
                TraceStep(
                    "assessed",
                    assessment.created_at,
                    _("Risk assessed: %(decision)s (score %(score)s)")
                    % {"decision": assessment.get_decision_display(), "score": assessment.score},
                    _("anti-fraud"),
                    ", ".join(s.get("code", "") for s in assessment.signals),
                    state="waiting" if assessment.decision == RiskAssessment.Decision.REVIEW else "done",
                )
            )
        rebates = list(
            redemption.rebates.select_related("beneficiary_user", "beneficiary_merchant").order_by("role", "pk")
        )
        if not rebates:
            steps.append(TraceStep("rebate_computed", None, _("No rebate computed yet"), _("system"), state="waiting"))
        for rebate in rebates:
            steps.extend(_rebate_steps(rebate))
    for refund in order.refunds.order_by("pk"):
        steps.append(
            TraceStep(
                "refund",
                refund.created_at,
                _("Refund of %(amount)s") % {"amount": refund.amount},
                order.merchant.name,
                refund.reason,
                state="reversed",
            )
        )
    for packet in order.earned_packets.select_related("campaign").order_by("pk"):
        steps.append(
            TraceStep(
                "earned",
                packet.issued_at,
                _("Packet %(code)s (%(amount)s) earned, campaign %(campaign)s")
                % {"code": packet.code, "amount": packet.amount, "campaign": packet.campaign.name},
                _("system"),
            )
        )
    for missed in order.not_issued.select_related("campaign"):
        steps.append(
            TraceStep(
                "not_issued",
                order.created_at,
                _("Packet of %(amount)s not issued, campaign %(campaign)s")
                % {"amount": missed.amount, "campaign": missed.campaign.name},
                _("system"),
                missed.code,
                state="reversed",
            )
        )
    if with_payouts:
        steps.extend(_payout_steps(order, rebates))
    return trace


def trace_search(*, user, query: str) -> list[OrderTrace]:
    # A shopper's payouts draw on a wallet filled at every merchant: platform operators see them, a merchant's staff
    # do not.
    with_payouts = is_platform_operator(user)
    return [order_trace(order, with_payouts=with_payouts) for order in trace_orders_find(user=user, query=query)]
