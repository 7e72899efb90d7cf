"""The engine's entry points: which packets an event earns, which rebate legs a redemption pays, whether a packet
can pay for a cart, and a simulation that shows all three with reasons. Pure: no database, no clock of its own."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from common.money import CNY, POINTS, ZERO, allocate, quantize

from .conditions import SCOPES, TRIGGERS
from .facts import CartLine, Event
from .results import EarnDecision, PacketCheck, RebateLeg, Verdict
from .spec import CampaignSpec, EarnSpec, LegSpec, RebateSpec, Tier

ISSUER = "issuer"
HOLDER = "holder"


def draw_tier(tiers: Sequence[Tier], draw: float) -> Tier:
    """The tier a uniform `draw` in [0, 1) lands on, by cumulative weight."""
    total = sum(t.weight for t in tiers)
    point = Decimal(str(draw)) * total
    running = 0
    for tier in tiers:
        running += tier.weight
        if point < running:
            return tier
    return tiers[-1]


def evaluate_earn(campaign: CampaignSpec, event: Event) -> tuple[EarnDecision, ...]:
    """One decision per earn rule of the campaign whose trigger matches the event, each with its reasons."""
    scope = tuple(cls.check(campaign, event) for cls in SCOPES)
    decisions = []
    for rule in campaign.earn_rules:
        if rule.trigger != event.trigger:
            continue
        verdicts = [*scope, TRIGGERS[rule.trigger].fires(rule, event)]
        amount = rule.amount
        if rule.tiers:
            tier = draw_tier(rule.tiers, event.draw)
            amount = tier.amount
            verdicts.append(Verdict(True, "", f"drew the {tier.amount} tier (weight {tier.weight})"))
        if campaign.daily_budget_cap and event.counters.spent_today + amount > campaign.daily_budget_cap:
            verdicts.append(
                Verdict(False, "daily_budget_cap_reached", f"today's cap {campaign.daily_budget_cap} would be passed")
            )
        failed = next((v for v in verdicts if not v.ok), None)
        decisions.append(
            EarnDecision(
                earn_rule_id=rule.id,
                fires=failed is None,
                amount=amount if failed is None else ZERO,
                reasons=tuple(verdicts),
                code=failed.code if failed else "",
            )
        )
    return tuple(decisions)


def _line_bases(lines: Sequence[CartLine], discount: Decimal, base: str) -> list[Decimal]:
    totals = [line.total for line in lines]
    if base == "gross" or discount <= 0 or not any(totals):
        return totals
    # The discount is spread over the lines in whole fen, so paid bases always add up to the amount paid.
    shares = allocate(discount, [t if t > 0 else Decimal(0) for t in totals]) if sum(totals) else [ZERO] * len(totals)
    return [t - s for t, s in zip(totals, shares, strict=True)]


def _leg_amount(
    role: str, leg: LegSpec, rebate: RebateSpec, lines: Sequence[CartLine], bases: list[Decimal], at: datetime
) -> tuple[Decimal, str]:
    if leg.mode == "fixed":
        raw, why = leg.fixed, f"fixed {leg.fixed}"
    else:
        table = {c.category: (c.issuer_rate if role == ISSUER else c.holder_rate) for c in rebate.category_rates}
        raw = ZERO
        parts = []
        for line, line_base in zip(lines, bases, strict=True):
            rate = table.get(line.category)
            rate = leg.rate if rate is None else rate
            raw += line_base * rate / Decimal(100)
            parts.append(f"{rate}% of {line.category} {line_base}")
        why = " + ".join(parts) if parts else "no lines"
    window = next((m for m in rebate.multipliers if m.covers(at)), None)
    if window:
        raw *= window.factor
        why += f", ×{window.factor} promotion window"
    amount = quantize(raw)
    if leg.cap is not None and amount > leg.cap:
        amount = leg.cap
        why += f", capped at {leg.cap}"
    return amount, why


def rebate_legs(snapshot: dict, *, lines: Sequence[CartLine], discount: Decimal, at: datetime) -> tuple[RebateLeg, ...]:
    """The issuer's and the holder's rebate for one redemption, from the snapshot taken when it happened.

    Rates apply per line (a category's rate overrides the flat rate), a promotion window multiplies, then the sum is
    rounded once and capped. A leg of zero is no leg; an issuer leg needs an issuer."""
    rebate = RebateSpec.from_snapshot(snapshot)
    bases = _line_bases(lines, discount, rebate.base)
    legs = []
    if snapshot.get("issuer_merchant_id") or snapshot.get("issuer_user_id"):
        amount, why = _leg_amount(ISSUER, rebate.issuer, rebate, lines, bases, at)
        if amount > 0:
            form = "marketing_credit" if snapshot.get("issuer_merchant_id") else "cash"
            legs.append(RebateLeg(ISSUER, amount, CNY, amount, form, rebate.issuer.funding, why))
    amount, why = _leg_amount(HOLDER, rebate.holder, rebate, lines, bases, at)
    if amount > 0:
        if rebate.holder_form == "points":
            points = quantize(amount * rebate.points_per_cny, POINTS)
            why += f" = {amount} CNY × {rebate.points_per_cny} points"
            legs.append(RebateLeg(HOLDER, amount, POINTS, points, "points", rebate.holder.funding, why))
        elif rebate.holder_form == "coupon":
            why += ", as a coupon for the next purchase"
            legs.append(RebateLeg(HOLDER, amount, CNY, amount, "coupon", rebate.holder.funding, why))
        else:
            legs.append(RebateLeg(HOLDER, amount, CNY, amount, "cash", rebate.holder.funding, why))
    return tuple(legs)


def check_packet(
    *,
    campaign_merchant_id: int | None,
    merchant_id: int | None,
    packet_status: str,
    expires_at: datetime,
    amount: Decimal,
    min_spend: Decimal,
    categories: Sequence[str],
    campaign_live: bool,
    lines: Sequence[CartLine],
    now: datetime,
    denied_categories: Sequence[str] = (),
) -> PacketCheck:
    """Can this packet pay for these lines at this merchant now? The discount is the packet amount, capped at what
    it covers. A threshold coupon (满50减10) is a packet with a minimum spend.

    A merchant campaign's packet (and every value its campaign funds, such as a coupon rebate) is accepted only by
    that merchant, a platform campaign's (`campaign_merchant_id` None) by any: otherwise one merchant's budget would
    pay another's discounts and rebates. Judged first, so a foreign merchant learns nothing of the packet's state."""
    if campaign_merchant_id is not None and merchant_id != campaign_merchant_id:
        return PacketCheck(False, "packet_not_accepted_here", "This packet's campaign does not cover this merchant.")
    if packet_status != "issued":
        return PacketCheck(False, f"packet_{packet_status}", f"The packet is {packet_status}.")
    if expires_at <= now:
        return PacketCheck(False, "packet_expired", "The packet has expired.")
    if not campaign_live:
        return PacketCheck(False, "campaign_not_active", "The packet's campaign is not running.")
    eligible = [
        line
        for line in lines
        if (not categories or line.category in categories) and line.category not in denied_categories
    ]
    if not eligible:
        return PacketCheck(False, "packet_category_not_allowed", "No item in the order is in the packet's categories.")
    eligible_total = sum((line.total for line in eligible), ZERO)
    if eligible_total < min_spend:
        return PacketCheck(
            False, "packet_min_spend_not_met", f"The packet needs a spend of {min_spend} on eligible items."
        )
    return PacketCheck(True, "", "ok", min(amount, eligible_total))


@dataclass(frozen=True)
class Simulation:
    earn: tuple[EarnDecision, ...]
    packet: PacketCheck | None  # spending this campaign's packet on the same order
    legs: tuple[RebateLeg, ...]


def simulate(
    campaign: CampaignSpec,
    event: Event,
    *,
    issuer_merchant_id: int | None,
    issuer_user_id: int | None = None,
) -> Simulation:
    """What production would do with this order: the packets it earns, and — if it spent one of this campaign's
    packets — the discount and every rebate leg. The very functions production calls."""
    earn = evaluate_earn(campaign, event)
    rule: EarnSpec | None = campaign.earn_rules[0] if campaign.earn_rules else None
    if rule is None or campaign.rebate is None or not event.lines:
        return Simulation(earn, None, ())
    amount = rule.tiers[0].amount if rule.tiers else rule.amount
    check = check_packet(
        campaign_merchant_id=campaign.merchant_id,
        # The order's merchant; an event that names none is placed at the campaign's own merchant.
        merchant_id=campaign.merchant_id if event.merchant_id is None else event.merchant_id,
        packet_status="issued",
        expires_at=campaign.ends_at,
        amount=amount,
        min_spend=rule.min_spend,
        categories=rule.allowed_categories,
        denied_categories=rule.denied_categories,
        campaign_live=campaign.status == "active" and campaign.starts_at <= event.at < campaign.ends_at,
        lines=event.lines,
        now=event.at,
    )
    legs: tuple[RebateLeg, ...] = ()
    if check.ok:
        snapshot = campaign.rebate.to_snapshot(issuer_merchant_id=issuer_merchant_id, issuer_user_id=issuer_user_id)
        legs = rebate_legs(snapshot, lines=event.lines, discount=check.discount, at=event.at)
    return Simulation(earn, check, legs)
