"""Seed data shared by the earning-page tests and the browser journeys, built with the project's own services."""

from decimal import Decimal

from campaigns.models import EarnRule
from campaigns.services import campaign_fund, merchant_deposit
from tests.factories.accounts import MerchantFactory
from tests.factories.campaigns import CampaignFactory, EarnRuleFactory, RebateRuleFactory

EVENT_AMOUNTS = {"registration": "5.00", "check_in": "1.00", "share": "3.00", "referral": "6.00"}


def event_campaign(*, merchant=None, budget: str = "500.00", amounts: dict | None = None, **campaign_fields):
    """A running campaign that hands out packets for sign-up, check-in, sharing and referral (seed §3: issuance on
    registration, daily check-in and sharing the campaign link), usable from 20.00, paying 10 % / 5 % when spent."""
    merchant = merchant or MerchantFactory()
    campaign = CampaignFactory(merchant=merchant, **campaign_fields)
    for trigger, amount in (amounts or EVENT_AMOUNTS).items():
        EarnRuleFactory(
            campaign=campaign,
            trigger=trigger,
            threshold_amount=Decimal("0.00"),
            packet_amount=Decimal(amount),
            min_spend=Decimal("20.00"),
            valid_days=2 if trigger == EarnRule.Trigger.CHECK_IN else 30,
        )
    RebateRuleFactory(campaign=campaign)
    merchant_deposit(merchant=merchant, amount=Decimal(budget), idempotency_key=f"deposit:events:{campaign.pk}")
    campaign_fund(campaign=campaign, amount=Decimal(budget), idempotency_key=f"fund:events:{campaign.pk}")
    return campaign
