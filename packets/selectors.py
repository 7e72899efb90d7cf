from django.db.models import QuerySet

from accounts.models import User
from accounts.selectors import merchant_of
from rebates.models import OutboxEvent, Rebate
from rebates.outbox import TOPIC_REDEMPTION_REBATES

from .models import Order, Packet


def orders_visible_to(user: User) -> QuerySet[Order]:
    """A shopper sees their orders; merchant staff see their merchant's. Anything else is invisible (404)."""
    merchant = merchant_of(user)
    qs = Order.objects.filter(merchant=merchant) if merchant else Order.objects.filter(shopper=user)
    return qs.select_related("packet").prefetch_related("lines", "earned_packets", "not_issued")


def packets_visible_to(user: User) -> QuerySet[Packet]:
    merchant = merchant_of(user)
    qs = Packet.objects.filter(issuer_merchant=merchant) if merchant else Packet.objects.filter(holder=user)
    return qs.order_by("-issued_at", "-pk")


def order_rebates(order: Order) -> tuple[str, list[Rebate]]:
    """(state, rebates) of an order, read consistently: none (no packet spent), computing (the worker has not
    finished), credited (the worker finished; its rebates — if the rule pays any — are all there).

    The outbox row is read BEFORE the rebates: the worker commits both together, so once the row reads done, the
    rebates are visible to the next statement. Reading them the other way round could show done and no rebates."""
    redemption = getattr(order, "redemption", None) if order.packet_id else None
    if redemption is None:
        return "none", []
    done = OutboxEvent.objects.filter(
        topic=TOPIC_REDEMPTION_REBATES, ref_id=redemption.pk, done_at__isnull=False
    ).exists()
    rebates = list(Rebate.objects.filter(redemption=redemption).order_by("role"))
    return ("credited" if done else "computing"), rebates
