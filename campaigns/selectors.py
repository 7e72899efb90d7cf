from datetime import datetime

from django.db.models import Q

from rebates.ledger import ledger_account
from rebates.models import AccountKind

from .models import Campaign, EarnRule


def live_earn_rules(*, merchant_id: int, at: datetime) -> list[EarnRule]:
    """Earn rules of running campaigns that apply to an order at this merchant (its own and platform campaigns)."""
    return list(
        EarnRule.objects.select_related("campaign")
        .filter(
            Q(campaign__merchant_id=merchant_id) | Q(campaign__merchant__isnull=True),
            campaign__status=Campaign.Status.ACTIVE,
            campaign__starts_at__lte=at,
            campaign__ends_at__gt=at,
        )
        .order_by("pk")
    )


def campaign_budget_account(campaign: Campaign):
    return ledger_account(kind=AccountKind.CAMPAIGN_BUDGET, campaign_id=campaign.pk)


def campaign_outstanding_account(campaign: Campaign):
    return ledger_account(kind=AccountKind.PACKETS_OUTSTANDING, campaign_id=campaign.pk)


def campaign_reserve_account(campaign: Campaign):
    return ledger_account(kind=AccountKind.REBATE_RESERVE, campaign_id=campaign.pk)
