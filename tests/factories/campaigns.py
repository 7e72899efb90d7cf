from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from campaigns.models import Campaign, EarnRule, RebateRule
from campaigns.services import campaign_fund, merchant_deposit, platform_pool_fund

from .accounts import MerchantFactory


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    merchant = factory.SubFactory(MerchantFactory)
    name = factory.Sequence(lambda n: f"Campaign {n}")
    status = Campaign.Status.ACTIVE
    starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    ends_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=30))


class EarnRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EarnRule

    campaign = factory.SubFactory(CampaignFactory)
    threshold_amount = Decimal("200.00")
    packet_amount = Decimal("10.00")
    valid_days = 30
    min_spend = Decimal("50.00")


class RebateRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RebateRule

    campaign = factory.SubFactory(CampaignFactory)
    issuer_rate = Decimal("10.00")
    holder_rate = Decimal("5.00")


def two_way_campaign(*, budget: str = "1000.00", merchant=None, **rule_overrides) -> Campaign:
    """The seed's campaign: spend ≥ 200 → a 10.00 packet (min spend 50); using it pays merchant 10 %, shopper 5 %."""
    merchant = merchant or MerchantFactory()
    campaign = CampaignFactory(merchant=merchant)
    earn = {k: v for k, v in rule_overrides.items() if k in {f.name for f in EarnRule._meta.fields}}
    rebate = {k: v for k, v in rule_overrides.items() if k in {f.name for f in RebateRule._meta.fields}}
    EarnRuleFactory(campaign=campaign, **earn)
    RebateRuleFactory(campaign=campaign, **rebate)
    if Decimal(budget) > 0:
        merchant_deposit(merchant=merchant, amount=Decimal(budget), idempotency_key=f"deposit:{campaign.pk}")
        campaign_fund(campaign=campaign, amount=Decimal(budget), idempotency_key=f"fund:{campaign.pk}")
    return campaign


def platform_campaign(*, budget: str = "100.00") -> Campaign:
    """A platform campaign (no merchant), funded from the platform pool: a manual 10.00 packet, no minimum spend,
    whose spending pays the holder 5 % (there is no merchant issuer to pay)."""
    campaign = CampaignFactory(merchant=None, participants=Campaign.Participants.PLATFORM_USER)
    EarnRuleFactory(campaign=campaign, trigger=EarnRule.Trigger.MANUAL, min_spend=Decimal("0.00"))
    RebateRuleFactory(campaign=campaign, issuer_rate=Decimal("0.00"))
    platform_pool_fund(amount=Decimal(budget), idempotency_key=f"pool:{campaign.pk}")
    campaign_fund(campaign=campaign, amount=Decimal(budget), idempotency_key=f"fund:{campaign.pk}")
    return campaign
