"""An order's program effects: the outbox hook that earns its referral rebate and trial attribution, and the
reversals its refunds cause in every program."""

from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from packets.models import Order
from rebates.outbox import outbox_mark_done

from ..models import Campaign, Feedback, ReferralProgram, ReferralReward, TrialAttribution, TrialProgram
from .referral import referral_reverse, referral_reward_for_order
from .trial import attribution_reverse, feedback_reverse, trial_attribution_for_order

# The outbox topic an order's program effects run under (wired in packets.services.order_create and rebates.outbox).
TOPIC_ORDER_PROGRAMS = "order.programs"


def programs_reverse_for_refund(*, order: Order, refunded_now: Decimal, refund_id: int) -> int:
    """Reverse the program rewards of a refunded order: the refunded share of its referral reward and of its
    marketing-fee rebate; on a full refund of a trial order, its feedback reward. Called by the refund service inside
    its transaction, with the order row locked (the program hook takes the same lock, so a hook that runs later
    sees the refund and reverses at once). Returns how many rewards moved."""
    key, gross, moved = f"refund:{refund_id}", order.gross_amount, 0
    reward = ReferralReward.objects.select_for_update().select_related("program").filter(order_id=order.pk).first()
    if reward is not None:
        moved += bool(referral_reverse(reward, gross=gross, refunded=refunded_now, key=key))
    attribution = TrialAttribution.objects.select_for_update().filter(order_id=order.pk).first()
    if attribution is not None:
        moved += bool(attribution_reverse(attribution, gross=gross, refunded=refunded_now, key=key))
    if refunded_now >= gross:
        feedback = Feedback.objects.select_for_update().select_related("program").filter(order_id=order.pk).first()
        if feedback is not None:
            moved += feedback_reverse(feedback, now=timezone.now())
    return moved


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
