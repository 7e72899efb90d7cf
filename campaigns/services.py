from datetime import date
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Merchant
from antifraud.scam import campaign_approval_check
from common.errors import ApplicationError, Conflict
from common.events import publish
from rebates.ledger import ledger_account, platform_account, transfer
from rebates.ledger.floats import floats_collect
from rebates.lock_objects import ledger_accounts_lock
from rebates.models import AccountKind

from . import errors
from .events import CampaignClosing
from .history import rule_changes_record, rule_fields
from .models import Campaign
from .selectors import campaign_budget_account, campaign_outstanding_account


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
def campaign_fund(
    *, campaign: Campaign, amount: Decimal, idempotency_key: str, from_marketing_credit: bool = False
) -> None:
    """Move money into the campaign budget: from its merchant's deposit — or its marketing credit, the rebates the
    merchant earned as an issuer (seed: "營銷費用" offset) — or the platform pool for a platform campaign.
    Refused (insufficient_funds) when the source cannot cover it."""
    if campaign.merchant_id and from_marketing_credit:
        source = ledger_account(kind=AccountKind.MERCHANT_MARKETING_CREDIT, merchant_id=campaign.merchant_id)
    elif campaign.merchant_id:
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
    if status == Campaign.Status.ENDED:
        # Orders lock these accounts before they count on the campaign row: take them in the same order.
        ledger_accounts_lock([campaign_budget_account(campaign).pk, campaign_outstanding_account(campaign).pk])
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if status not in _TRANSITIONS[campaign.status]:
        raise Conflict(
            _("A campaign cannot go from %(current)s to %(wanted)s.") % {"current": campaign.status, "wanted": status},
            code="campaign_bad_transition",
        )
    if status == Campaign.Status.ACTIVE and not hasattr(campaign, "rebate_rule"):
        raise ApplicationError(_("A campaign needs a rebate rule before it can go live."), code="campaign_incomplete")
    if status == Campaign.Status.ACTIVE:
        campaign_approval_check(campaign_id=campaign.pk)  # the scam guard (antifraud/scam.py): 409 until approved
    campaign.status = status
    campaign.status_reason = reason
    campaign.save(update_fields=["status", "status_reason"])
    if status == Campaign.Status.ENDED:
        _campaign_close(campaign)
    return campaign


def campaign_change_status(*, user, campaign: Campaign, status: str, reason: str = "") -> Campaign:
    """The state machine, with the change written to the rule history (who, when, from what to what)."""
    if status == Campaign.Status.ACTIVE and campaign.status != Campaign.Status.ACTIVE:
        # Before the status transaction, so a flagged campaign's approval request is kept when activation is refused.
        campaign_approval_check(campaign_id=campaign.pk)
    with transaction.atomic():
        before = rule_fields(campaign)
        updated = campaign_set_status(campaign=campaign, status=status, reason=reason)
        rule_changes_record(campaign=updated, actor=user, target="campaign", before=before, after=rule_fields(updated))
        return updated


def _campaign_close(campaign: Campaign) -> None:
    """Ended: unspent packets expire back to the budget, then the budget returns to whoever funded it."""
    publish(CampaignClosing(campaign_id=campaign.pk))
    budget = campaign_budget_account(campaign)
    ledger_accounts_lock([budget.pk])
    left = floats_collect(budget)  # the floats' money is the budget's too: it all goes back
    if left > 0:
        funder = (
            ledger_account(kind=AccountKind.MERCHANT_DEPOSIT, merchant_id=campaign.merchant_id)
            if campaign.merchant_id
            else platform_account(AccountKind.PLATFORM_MARKETING_POOL)
        )
        transfer(
            source=budget,
            destination=funder,
            amount=left,
            kind="campaign_release",
            idempotency_key=f"campaign:{campaign.pk}:release",
            reference=f"campaign:{campaign.pk}",
        )


def campaigns_end_due(*, now=None) -> int:
    """Campaigns past their end date are ended (and their budgets released)."""
    now = now or timezone.now()
    due = Campaign.objects.filter(
        status__in=[Campaign.Status.ACTIVE, Campaign.Status.PAUSED, Campaign.Status.DRAFT], ends_at__lte=now
    ).values_list("pk", flat=True)
    ended = 0
    for campaign_id in due:
        campaign_set_status(campaign=Campaign(pk=campaign_id), status=Campaign.Status.ENDED, reason="ended on schedule")
        ended += 1
    return ended


def campaign_pause_budget_exhausted(*, campaign_id: int) -> None:
    """Auto-pause at exhaustion, with the reason shown in admin. Funding the budget and re-activating resumes it."""
    Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.ACTIVE).update(
        status=Campaign.Status.PAUSED, status_reason=str(errors.BUDGET_EXHAUSTED)
    )


def campaign_count_issuance(*, campaign: Campaign, user_id: int | None, amount: Decimal, day: date) -> str:
    """Count one packet against every limit of the campaign, each in the statement that checks it, so concurrent
    issuers can never pass a limit together. Returns "" when counted, else the code of the limit reached.
    Callers run this in a savepoint and roll it back when a later step (or limit) refuses the packet."""
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO campaigns_campaigndaycounter (campaign_id, day, spent) VALUES (%(c)s, %(d)s, %(a)s)
               ON CONFLICT (campaign_id, day) DO UPDATE SET spent = campaigns_campaigndaycounter.spent + %(a)s
               WHERE %(cap)s = 0 OR campaigns_campaigndaycounter.spent + %(a)s <= %(cap)s
               RETURNING spent""",
            {"c": campaign.pk, "d": day, "a": amount, "cap": campaign.daily_budget_cap},
        )
        if cursor.fetchone() is None or (campaign.daily_budget_cap and amount > campaign.daily_budget_cap):
            return "daily_budget_cap_reached"
        cursor.execute(
            """UPDATE campaigns_campaign SET packets_issued = packets_issued + 1
               WHERE id = %s AND (packet_limit = 0 OR packets_issued < packet_limit)""",
            [campaign.pk],
        )
        if cursor.rowcount == 0:
            return "campaign_limit_reached"
        if user_id is not None:
            cursor.execute(
                """INSERT INTO campaigns_campaignusercounter (campaign_id, user_id, packets) VALUES (%(c)s, %(u)s, 1)
                   ON CONFLICT (campaign_id, user_id) DO UPDATE SET packets = campaigns_campaignusercounter.packets + 1
                   WHERE %(limit)s = 0 OR campaigns_campaignusercounter.packets < %(limit)s
                   RETURNING packets""",
                {"c": campaign.pk, "u": user_id, "limit": campaign.per_user_limit},
            )
            if cursor.fetchone() is None:
                return "per_user_limit_reached"
    return ""
