"""A few months of history for the demo merchant (`make run`'s demo loader): shoppers buying the demo products day
after day, earning packets, spending them (their rebates credited by the worker's own service), now and then a
refund; the expiry sweep; then the rollups. Everything through the services, so the books and the report agree.
Deterministic (a seeded draw) and loaded once: a second run finds its orders and does nothing."""

import random
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from accounts.models import Merchant, User
from campaigns.models import Campaign
from campaigns.services import campaign_fund, merchant_deposit
from common.errors import ApplicationError
from packets.models import Order, Packet, Product
from packets.services import LineInput, order_create, order_refund, packets_expire_due
from rebates.services import rebates_credit_for_redemption

from .facts import TABLES_READ
from .services import rollups_apply

PREFIX = "DEMO-H"
PROVINCES = ("广东", "广东", "浙江", "江苏", "上海", "北京", "四川")


def _shoppers(count: int) -> list[User]:
    shoppers = []
    for n in range(count):
        user, created = User.objects.get_or_create(
            username=f"demo-shopper-{n:02d}",
            defaults={"phone": f"1380000{n + 100:04d}", "province": PROVINCES[n % len(PROVINCES)]},
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        shoppers.append(user)
    return shoppers


def demo_history_load(*, merchant: Merchant, days: int = 120, seed: int = 15) -> int:
    """Orders of the last `days` days at `merchant`, through its live campaigns. Returns the orders made."""
    if Order.objects.filter(merchant=merchant, order_no__startswith=PREFIX).exists():
        return 0
    rng = random.Random(seed)
    today = timezone.localdate()
    first_day = today - timedelta(days=days)
    campaigns = list(Campaign.objects.filter(merchant=merchant, status=Campaign.Status.ACTIVE))
    # The campaigns ran through the whole history: their window opens before its first day, and they are funded
    # for it (the demo's ledger keys make both once).
    Campaign.objects.filter(pk__in=[c.pk for c in campaigns]).update(
        starts_at=timezone.make_aware(datetime.combine(first_day - timedelta(days=1), time()))
    )
    merchant_deposit(merchant=merchant, amount=Decimal("60000.00"), idempotency_key=f"{PREFIX}:deposit:{merchant.pk}")
    for campaign in campaigns:
        campaign_fund(campaign=campaign, amount=Decimal("25000.00"), idempotency_key=f"{PREFIX}:fund:{campaign.pk}")
    products = list(Product.objects.filter(merchant=merchant, active=True))
    shoppers = _shoppers(40)
    made = 0
    for offset in range(days + 1):
        day = first_day + timedelta(days=offset)
        # Busier as the campaigns catch on, and at weekends.
        orders_today = 2 + offset * 4 // days + (2 if day.weekday() >= 5 else 0) + rng.randrange(2)
        for n in range(orders_today):
            shopper = rng.choice(shoppers)
            when = timezone.make_aware(datetime.combine(day, time(9 + (n * 3) % 12, rng.randrange(60))))
            if when > timezone.now():
                continue
            made += _order(rng, merchant, shopper, products, when, number=f"{PREFIX}-{day:%Y%m%d}-{n}")
    packets_expire_due()
    # The planner's statistics still describe the tables before this load (in a long-lived test database: pages of
    # dead rows counted as empty), and would plan the rollup pass's joins for one row per table: nested scans over
    # thousands of rows, minutes per statement. ANALYZE counts this transaction's own rows as well.
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {', '.join(TABLES_READ)}")
    rollups_apply()
    return made


def _order(rng, merchant, shopper, products, when, *, number: str) -> int:
    packet = (
        Packet.objects.filter(
            holder=shopper, status=Packet.Status.ISSUED, campaign__merchant=merchant, expires_at__gt=when
        )
        .filter(issued_at__lt=when)
        .order_by("expires_at")
        .first()
    )
    spend = packet is not None and rng.random() < 0.7
    picks = rng.sample(products, k=min(len(products), rng.randrange(1, 4)))
    lines = [LineInput(p.sku, p.name, p.category, rng.randrange(1, 4), p.price) for p in picks]
    if packet and spend and packet.categories:
        lines = [line for line in lines if line.category in packet.categories] or lines
    gross = sum((line.unit_price * line.quantity for line in lines), Decimal("0.00"))
    try:
        order = order_create(
            merchant=merchant,
            shopper=shopper,
            order_no=number,
            lines=lines,
            gross_amount=gross,
            packet_code=packet.code if spend else None,
            province=shopper.province,
            now=when,
        )
    except ApplicationError:  # a packet this cart cannot use (minimum spend, categories): bought without it
        order = order_create(
            merchant=merchant,
            shopper=shopper,
            order_no=number,
            lines=lines,
            gross_amount=gross,
            province=shopper.province,
            now=when,
        )
    Order.objects.filter(pk=order.pk).update(created_at=when)  # auto_now_add: the history's own moment
    if order.packet_id:
        rebates_credit_for_redemption(redemption_id=order.redemption.pk)
        if rng.random() < 0.05:
            order_refund(order=order, amount=(order.gross_amount / 2).quantize(Decimal("0.01")), now=when)
    return 1
