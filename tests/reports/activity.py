"""A known month of a campaign's life, built through the services (orders, redemptions, rebates, refunds, sign-ups,
a batch and its claims, expiry), for the report tests to check every figure against."""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

from accounts.models import Merchant, User
from accounts.services import user_register
from campaigns.models import Campaign, EarnRule
from packets.batch import packet_claim, packets_generate
from packets.models import Order, Packet
from packets.services import LineInput, order_create, order_refund, packet_grant, packets_expire_due
from rebates.services import rebates_credit_for_redemption
from reports.selectors import Period
from tests.factories.accounts import MerchantFactory, UserFactory
from tests.factories.campaigns import two_way_campaign

D = Decimal


def at(day: date, hour: int = 12) -> datetime:
    """Noon (or `hour`) of a calendar day in the site's time zone."""
    return timezone.make_aware(datetime.combine(day, time(hour)))


@dataclass
class Month:
    campaign: Campaign
    merchant: Merchant
    other_merchant: Merchant
    period: Period
    orders: list[Order] = field(default_factory=list)
    signups: list[User] = field(default_factory=list)


class Shop:
    def __init__(self, merchant: Merchant):
        self.merchant = merchant
        self.numbers = 0

    def order(self, shopper, when: datetime, lines: list[tuple[str, str, int]], *, packet=None, province="广东"):
        """An order at `when` with lines (category, unit price, quantity); Order.created_at is stamped to `when`
        (it is auto_now_add), the rest carry `when` through the services' `now`."""
        self.numbers += 1
        items = [LineInput(f"S-{cat}", cat, cat, qty, D(price)) for cat, price, qty in lines]
        gross = sum((item.unit_price * item.quantity for item in items), D("0.00"))
        order = order_create(
            merchant=self.merchant,
            shopper=shopper,
            order_no=f"R-{self.merchant.pk}-{self.numbers}",
            lines=items,
            gross_amount=gross,
            packet_code=packet.code if packet else None,
            province=province,
            now=when,
        )
        Order.objects.filter(pk=order.pk).update(created_at=when)
        order.refresh_from_db()
        if packet:
            rebates_credit_for_redemption(redemption_id=order.redemption.pk)
        return order


def build_month() -> Month:
    today = timezone.localdate()
    period = Period(today - timedelta(days=29), today)
    start = period.start
    merchant = MerchantFactory()
    campaign = two_way_campaign(merchant=merchant, budget="5000.00")  # spend ≥ 200 → 10.00; issuer 10 %, holder 5 %
    Campaign.objects.filter(pk=campaign.pk).update(starts_at=at(start - timedelta(days=400)))
    campaign.refresh_from_db()
    purchase = campaign.earn_rules.get()
    EarnRule.objects.create(campaign=campaign, trigger=EarnRule.Trigger.REGISTRATION, packet_amount=D("5.00"))
    short = EarnRule.objects.create(
        campaign=campaign, trigger=EarnRule.Trigger.MANUAL, packet_amount=D("3.00"), valid_days=1
    )
    shop, elsewhere = Shop(merchant), Shop(MerchantFactory())
    month = Month(campaign, merchant, elsewhere.merchant, period)
    alice, bob, carol, dave = (UserFactory() for _ in range(4))

    # Before the range: the baseline of the activity lift, a month and a year ago for MoM and YoY.
    shop.order(alice, at(start - timedelta(days=5)), [("fruit", "40.00", 1)])
    shop.order(bob, at(start - timedelta(days=20)), [("dairy", "30.00", 1)])
    shop.order(alice, at(start - timedelta(days=25)), [("fruit", "20.00", 1)])
    shop.order(carol, at(today - timedelta(days=365 + 3)), [("fruit", "100.00", 1)])

    # The month: earn (≥ 200), spend, in two provinces; one refund; a packet that expires; a batch claimed.
    first = shop.order(alice, at(start), [("fruit", "150.00", 1), ("dairy", "60.00", 1)])
    second = shop.order(bob, at(start + timedelta(days=1)), [("fruit", "250.00", 1)], province="浙江")
    alice_packet = first.earned_packets.get()
    bob_packet = second.earned_packets.get()
    shop.order(alice, at(start + timedelta(days=3)), [("fruit", "80.00", 1)], packet=alice_packet)
    spent = shop.order(bob, at(start + timedelta(days=4)), [("dairy", "120.00", 1)], packet=bob_packet, province="浙江")
    order_refund(order=spent, amount=D("60.00"), now=at(start + timedelta(days=6)))
    third = shop.order(carol, at(start + timedelta(days=10)), [("fruit", "300.00", 1)])
    shop.order(carol, at(start + timedelta(days=12)), [("fruit", "55.00", 1)], packet=third.earned_packets.get())
    packet_grant(rule=short, holder=dave, now=at(start + timedelta(days=2)))
    packets_expire_due()
    batch = packets_generate(campaign=campaign, rule=purchase, count=3, now=at(start + timedelta(days=5)))
    codes = list(batch.packets.order_by("pk").values_list("code", flat=True))
    packet_claim(code=codes[0], user=dave, now=at(start + timedelta(days=7)))
    claimed = Packet.objects.get(code=codes[0])
    shop.order(dave, at(start + timedelta(days=8)), [("dairy", "90.00", 1)], packet=claimed)

    # Sign-ups through the campaign (its registration packet), today.
    month.signups = [user_register(password="s3cret-pass!", phone=f"1370000{n:04d}").user for n in range(2)]

    # Another merchant's sales: not this campaign's merchant's.
    elsewhere.order(dave, at(start + timedelta(days=9)), [("toys", "500.00", 1)])
    month.orders = list(Order.objects.filter(merchant=merchant).order_by("pk"))
    return month
