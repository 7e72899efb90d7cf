from decimal import Decimal

from django.db import transaction

from accounts.models import Merchant
from common.errors import ApplicationError
from rebates.ledger import ledger_account, platform_account, transfer
from rebates.models import AccountKind

from .models import Campaign
from .selectors import campaign_budget_account


def merchant_deposit(*, merchant: Merchant, amount: Decimal, idempotency_key: str) -> None:
    """Money a merchant paid in (bank transfer, WeChat Pay) lands in its deposit account."""
    transfer(
        source=platform_account(AccountKind.PLATFORM_EXTERNAL),
        destination=ledger_account(kind=AccountKind.MERCHANT_DEPOSIT, merchant_id=merchant.pk),
        amount=amount,
        kind="merchant_deposit",
        idempotency_key=idempotency_key,
        reference=f"merchant:{merchant.pk}",
    )


def platform_pool_fund(*, amount: Decimal, idempotency_key: str) -> None:
    transfer(
        source=platform_account(AccountKind.PLATFORM_EXTERNAL),
        destination=platform_account(AccountKind.PLATFORM_MARKETING_POOL),
        amount=amount,
        kind="platform_pool_fund",
        idempotency_key=idempotency_key,
        reference="platform:pool",
    )


@transaction.atomic
def campaign_fund(*, campaign: Campaign, amount: Decimal, idempotency_key: str) -> None:
    """Move money into the campaign budget: from its merchant's deposit, or the platform pool for a platform
    campaign. Refused (insufficient_funds) when the source cannot cover it."""
    if campaign.merchant_id:
        source = ledger_account(kind=AccountKind.MERCHANT_DEPOSIT, merchant_id=campaign.merchant_id)
    else:
        source = platform_account(AccountKind.PLATFORM_MARKETING_POOL)
    transfer(
        source=source,
        destination=campaign_budget_account(campaign),
        amount=amount,
        kind="campaign_fund",
        idempotency_key=idempotency_key,
        reference=f"campaign:{campaign.pk}",
    )
    if campaign.status_reason:
        Campaign.objects.filter(pk=campaign.pk).update(status_reason="")


_TRANSITIONS = {
    Campaign.Status.DRAFT: {Campaign.Status.ACTIVE, Campaign.Status.ENDED},
    Campaign.Status.ACTIVE: {Campaign.Status.PAUSED, Campaign.Status.ENDED},
    Campaign.Status.PAUSED: {Campaign.Status.ACTIVE, Campaign.Status.ENDED},
    Campaign.Status.ENDED: set(),
}


@transaction.atomic
def campaign_set_status(*, campaign: Campaign, status: str, reason: str = "") -> Campaign:
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if status not in _TRANSITIONS[campaign.status]:
        raise ApplicationError(
            f"A campaign cannot go from {campaign.status} to {status}.", code="campaign_bad_transition"
        )
    if status == Campaign.Status.ACTIVE and not hasattr(campaign, "rebate_rule"):
        raise ApplicationError("A campaign needs a rebate rule before it can go live.", code="campaign_incomplete")
    campaign.status = status
    campaign.status_reason = reason
    campaign.save(update_fields=["status", "status_reason"])
    return campaign


def campaign_note_budget_exhausted(*, campaign_id: int, reason: str) -> None:
    """Shown in admin: why the campaign stopped issuing. Its own statement, outside the failed issuance."""
    Campaign.objects.filter(pk=campaign_id).exclude(status_reason=reason).update(status_reason=reason)
