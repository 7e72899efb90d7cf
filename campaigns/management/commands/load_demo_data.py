"""Demo data for `make run`: merchant 鲜果坊 with the seed's two campaigns, a shopper, a manager and an operator.

Idempotent: every row is found-or-created by a natural key and every money move has a fixed ledger key, so
running it again changes nothing."""

from datetime import timedelta
from decimal import Decimal

from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts import roles
from accounts.models import Merchant, MerchantStaff, User
from campaigns.models import Campaign, EarnRule, RebateRule
from campaigns.services import campaign_fund, merchant_deposit
from packets.models import Packet
from packets.services import packet_grant
from packets.store import demo_products_load
from reports.demo import demo_history_load

PASSWORD = "demo-pass-123"  # noqa: S105 — demo accounts on a local machine, printed by `make run`
MERCHANT = "鲜果坊"


def _user(username: str, *, phone: str | None = None, group: str, **extra) -> User:
    user, created = User.objects.get_or_create(username=username, defaults={"phone": phone, **extra})
    if created:
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])
    user.groups.add(Group.objects.get(name=group))
    return user


class Command(BaseCommand):
    help = "Load the demo merchant, campaigns and users (safe to run again)."

    @transaction.atomic
    def handle(self, *args, **options):
        now = timezone.now()
        _user("admin", group=roles.PLATFORM_OPERATOR, is_staff=True, is_superuser=True, email="admin@example.test")
        manager = _user("manager", phone="13900000001", group=roles.CAMPAIGN_MANAGER, is_staff=True)
        shopper = _user("shopper", phone="13800000001", group=roles.SHOPPER, province="广东", city="深圳")

        merchant, _ = Merchant.objects.get_or_create(name=MERCHANT, defaults={"is_verified": True})
        MerchantStaff.objects.get_or_create(
            merchant=merchant, user=manager, defaults={"role": MerchantStaff.Role.CAMPAIGN_MANAGER}
        )
        merchant_deposit(merchant=merchant, amount=Decimal("20000.00"), idempotency_key="demo:deposit")

        two_way = self._campaign(
            merchant,
            "满200送红包 · 双向返利",
            "消费满200元得10元红包；再次消费满50元使用红包，商家获返10%，您获返5%。",
            now,
            earn={"threshold_amount": "200.00", "packet_amount": "10.00", "min_spend": "50.00", "valid_days": 30},
            rebate={"issuer_rate": "10.00", "holder_rate": "5.00"},
            budget="10000.00",
        )
        fruit = self._campaign(
            merchant,
            "新鲜水果季 · 注册领红包返现",
            "水果订单满100元得10元红包（满50减10，限水果）；用红包买水果返现订单金额的8%。",
            now,
            earn={
                "threshold_amount": "100.00",
                "packet_amount": "10.00",
                "min_spend": "50.00",
                "valid_days": 14,
                "allowed_categories": ["fruit"],
            },
            rebate={"issuer_rate": "0.00", "holder_rate": "8.00"},
            budget="5000.00",
        )
        demo_products_load(merchant)
        for campaign in (two_way, fruit):
            if not Packet.objects.filter(campaign=campaign, holder=shopper).exists():
                packet_grant(rule=campaign.earn_rules.first(), holder=shopper)
        # A few months of orders, packets and rebates, so the campaign reports are worth opening on first start.
        demo_history_load(merchant=merchant)
        self.stdout.write(self.style.SUCCESS("demo data ready"))

    def _campaign(self, merchant, name, description, now, *, earn, rebate, budget) -> Campaign:
        campaign, created = Campaign.objects.get_or_create(
            merchant=merchant,
            name=name,
            defaults={
                "description": description,
                "status": Campaign.Status.ACTIVE,
                "starts_at": now - timedelta(days=1),
                "ends_at": now + timedelta(days=90),
            },
        )
        if created:
            EarnRule.objects.create(campaign=campaign, **earn)
            RebateRule.objects.create(campaign=campaign, **rebate)
        campaign_fund(campaign=campaign, amount=Decimal(budget), idempotency_key=f"demo:fund:{campaign.pk}")
        return campaign
