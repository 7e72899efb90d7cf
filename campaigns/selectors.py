from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, Sum, prefetch_related_objects
from django.db.models.functions import TruncDate
from django.utils import timezone

from common.money import ZERO
from rebates.ledger import ledger_account
from rebates.models import AccountKind

from .models import Campaign, EarnRule
from .rules import CampaignSpec, CategoryRate, EarnSpec, LegSpec, Multiplier, RebateSpec


def live_campaigns(*, merchant_id: int, at: datetime) -> list[Campaign]:
    """Running campaigns that apply to an order at this merchant (its own and platform campaigns), rules loaded."""
    return list(
        Campaign.objects.filter(
            Q(merchant_id=merchant_id) | Q(merchant__isnull=True),
            status=Campaign.Status.ACTIVE,
            starts_at__lte=at,
            ends_at__gt=at,
        )
        .prefetch_related(Prefetch("earn_rules", queryset=EarnRule.objects.order_by("pk")))
        .order_by("pk")
    )


def live_campaigns_for_trigger(*, trigger: str, at: datetime) -> list[Campaign]:
    return list(
        Campaign.objects.filter(
            status=Campaign.Status.ACTIVE, starts_at__lte=at, ends_at__gt=at, earn_rules__trigger=trigger
        )
        .distinct()
        .prefetch_related(Prefetch("earn_rules", queryset=EarnRule.objects.order_by("pk")))
        .order_by("pk")
    )


def campaign_with_rules(campaign_id: int) -> Campaign:
    return (
        Campaign.objects.select_related("rebate_rule")
        .prefetch_related(
            Prefetch("earn_rules", queryset=EarnRule.objects.order_by("pk")), "category_rates", "multiplier_windows"
        )
        .get(pk=campaign_id)
    )


def campaign_rebate_rows(campaign: Campaign) -> Campaign:
    """The rows `rebate_spec` reads beyond the rebate rule, loaded onto a campaign already in hand (two queries,
    instead of reading the campaign and all its rules again)."""
    prefetch_related_objects([campaign], "category_rates", "multiplier_windows")
    return campaign


def earn_spec(rule: EarnRule) -> EarnSpec:
    return EarnSpec(
        id=rule.pk,
        trigger=rule.trigger,
        amount=rule.packet_amount,
        threshold=rule.threshold_amount,
        tiers=rule.parsed_tiers(),
        min_spend=rule.min_spend,
        valid_days=rule.valid_days,
        allowed_categories=tuple(rule.allowed_categories),
        denied_categories=tuple(rule.denied_categories),
    )


def rebate_spec(campaign: Campaign) -> RebateSpec | None:
    rule = getattr(campaign, "rebate_rule", None)
    if rule is None:
        return None
    return RebateSpec(
        issuer=LegSpec(rule.issuer_mode, rule.issuer_rate, rule.issuer_fixed, rule.issuer_cap, rule.issuer_funding),
        holder=LegSpec(rule.holder_mode, rule.holder_rate, rule.holder_fixed, rule.holder_cap, rule.holder_funding),
        base=rule.base,
        holder_form=rule.holder_form,
        points_per_cny=rule.points_per_cny,
        category_rates=tuple(
            CategoryRate(c.category, c.issuer_rate, c.holder_rate)
            for c in sorted(campaign.category_rates.all(), key=lambda c: c.category)
        ),
        multipliers=tuple(
            Multiplier(m.starts_at, m.ends_at, m.factor)
            for m in sorted(campaign.multiplier_windows.all(), key=lambda m: m.starts_at)
        ),
    )


def campaign_spec(campaign: Campaign, *, with_rebate: bool = True) -> CampaignSpec:
    return CampaignSpec(
        id=campaign.pk,
        merchant_id=campaign.merchant_id,
        status=campaign.status,
        starts_at=campaign.starts_at,
        ends_at=campaign.ends_at,
        earn_rules=tuple(earn_spec(r) for r in campaign.earn_rules.all()),
        rebate=rebate_spec(campaign) if with_rebate else None,
        regions=tuple(campaign.regions),
        user_scope=campaign.user_scope,
        segments=tuple(campaign.segments),
        per_user_limit=campaign.per_user_limit,
        packet_limit=campaign.packet_limit,
        daily_budget_cap=campaign.daily_budget_cap,
        allow_stacking=campaign.allow_stacking,
    )


def campaign_budget_account(campaign: Campaign):
    return ledger_account(kind=AccountKind.CAMPAIGN_BUDGET, campaign_id=campaign.pk)


def campaign_outstanding_account(campaign: Campaign):
    return ledger_account(kind=AccountKind.PACKETS_OUTSTANDING, campaign_id=campaign.pk)


def campaign_reserve_account(campaign: Campaign):
    return ledger_account(kind=AccountKind.REBATE_RESERVE, campaign_id=campaign.pk)


def campaign_counters(campaign: Campaign) -> dict:
    """Live counters for the console: packets by state, rebates credited and still being computed."""
    from packets.models import Packet, Redemption
    from rebates.models import Rebate

    counts = Packet.objects.filter(campaign=campaign).aggregate(
        issued=Count("pk"),
        valid=Count("pk", filter=Q(status="issued")),
        used=Count("pk", filter=Q(status="used")),
        expired=Count("pk", filter=Q(status="expired")),
    )
    credited = Rebate.objects.filter(redemption__packet__campaign=campaign).aggregate(
        n=Count("pk"), total=Sum("amount", filter=Q(currency="CNY"))
    )
    pending = (
        Redemption.objects.filter(packet__campaign=campaign)
        .exclude(Exists(Rebate.objects.filter(redemption=OuterRef("pk"))))
        .count()
    )
    return {
        **counts,
        "rebates_credited": credited["n"],
        "rebates_credited_amount": credited["total"] or ZERO,
        "rebates_pending": pending,
    }


def budget_burn_down(campaign: Campaign, *, days: int = 30) -> list[dict]:
    """Per day (shop time zone): what left the budget and the balance at the day's end — from the ledger itself."""
    from rebates.models import Entry

    budget = campaign_budget_account(campaign)
    rows = (
        Entry.objects.filter(account=budget)
        .annotate(day=TruncDate("transaction__created_at", tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(net=Sum("amount"), spent=Sum("amount", filter=Q(amount__lt=0)))
        .order_by("day")
    )
    balance = ZERO
    result = []
    for row in rows:
        balance += row["net"]
        result.append({"day": row["day"], "spent": -(row["spent"] or ZERO), "balance": balance})
    return result[-days:]
