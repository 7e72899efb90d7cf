from django.db.models import Prefetch, QuerySet

from accounts.models import User
from accounts.selectors import merchant_of
from rebates.models import OutboxEvent, Rebate
from rebates.outbox import TOPIC_REDEMPTION_REBATES

from .models import Order, Packet


def orders_visible_to(user: User) -> QuerySet[Order]:
    """A shopper sees their orders; merchant staff see their merchant's. Anything else is invisible (404)."""
    merchant = merchant_of(user)
    qs = Order.objects.filter(merchant=merchant) if merchant else Order.objects.filter(shopper=user)
    return qs.select_related("packet").prefetch_related(
        "lines", "earned_packets", Prefetch("redemption__rebates", queryset=Rebate.objects.order_by("role"))
    )


def packets_visible_to(user: User) -> QuerySet[Packet]:
    merchant = merchant_of(user)
    qs = Packet.objects.filter(issuer_merchant=merchant) if merchant else Packet.objects.filter(holder=user)
    return qs.order_by("-issued_at", "-pk")


def rebate_state(order: Order) -> str:
    """none: no packet spent; computing: the worker has not credited yet; credited: both legs are in."""
    redemption = getattr(order, "redemption", None) if order.packet_id else None
    if redemption is None:
        return "none"
    if redemption.rebates.all():
        return "credited"
    done = OutboxEvent.objects.filter(
        topic=TOPIC_REDEMPTION_REBATES, ref_id=redemption.pk, done_at__isnull=False
    ).exists()
    return "credited" if done else "computing"
