from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from common.money import CNY, POINTS, ZERO, percent_of, quantize

ISSUER = "issuer"
HOLDER = "holder"


@dataclass(frozen=True)
class CartLine:
    category: str
    quantity: int
    unit_price: Decimal

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class RebateLeg:
    role: str  # issuer | holder
    amount: Decimal  # CNY cost of the leg, to the fen
    currency: str  # what the beneficiary receives: CNY or POINTS
    units: Decimal  # amount in `currency` (CNY: == amount; POINTS: whole points)
    form: str  # cash | points | marketing_credit
    funding: str  # campaign_budget | platform_pool
    reason: str


@dataclass(frozen=True)
class EarnDecision:
    earn_rule_id: int
    fires: bool
    packet_amount: Decimal
    reason: str


@dataclass(frozen=True)
class PacketCheck:
    ok: bool
    code: str  # stable error code when not ok
    reason: str
    discount: Decimal


def rebate_snapshot(rule, *, issuer_merchant_id: int | None) -> dict:
    """Freeze a RebateRule (or any object with its attributes) into JSON-safe plain data."""
    return {
        "issuer_merchant_id": issuer_merchant_id,
        "issuer_rate": str(rule.issuer_rate),
        "holder_rate": str(rule.holder_rate),
        "base": rule.base,
        "holder_form": rule.holder_form,
        "points_per_cny": int(rule.points_per_cny),
        "issuer_funding": rule.issuer_funding,
        "holder_funding": rule.holder_funding,
    }


def rebate_legs(snapshot: dict, *, gross: Decimal, paid: Decimal) -> tuple[RebateLeg, ...]:
    """The issuer's and the holder's rebate for one redemption. A leg of zero is not a leg."""
    base_name = snapshot["base"]
    base = gross if base_name == "gross" else paid
    legs = []
    issuer_rate = Decimal(snapshot["issuer_rate"])
    issuer_amount = percent_of(base, issuer_rate)
    # A platform campaign's packet has no merchant issuer to pay: its issuer leg does not exist.
    if issuer_amount > 0 and snapshot.get("issuer_merchant_id") is not None:
        legs.append(
            RebateLeg(
                role=ISSUER,
                amount=issuer_amount,
                currency=CNY,
                units=issuer_amount,
                form="marketing_credit",
                funding=snapshot["issuer_funding"],
                reason=f"{issuer_rate}% of {base_name} {base}",
            )
        )
    holder_rate = Decimal(snapshot["holder_rate"])
    holder_amount = percent_of(base, holder_rate)
    if holder_amount > 0:
        if snapshot["holder_form"] == "points":
            points = quantize(holder_amount * snapshot["points_per_cny"], POINTS)
            legs.append(
                RebateLeg(
                    role=HOLDER,
                    amount=holder_amount,
                    currency=POINTS,
                    units=points,
                    form="points",
                    funding=snapshot["holder_funding"],
                    reason=f"{holder_rate}% of {base_name} {base} = {holder_amount} CNY × {snapshot['points_per_cny']}",
                )
            )
        else:
            legs.append(
                RebateLeg(
                    role=HOLDER,
                    amount=holder_amount,
                    currency=CNY,
                    units=holder_amount,
                    form="cash",
                    funding=snapshot["holder_funding"],
                    reason=f"{holder_rate}% of {base_name} {base}",
                )
            )
    return tuple(legs)


def earn_decisions(rules: list[dict], *, gross: Decimal) -> tuple[EarnDecision, ...]:
    """Which earn rules fire for an order of `gross`. Each rule is {id, threshold_amount, packet_amount}."""
    decisions = []
    for rule in rules:
        threshold = Decimal(rule["threshold_amount"])
        fires = gross >= threshold
        decisions.append(
            EarnDecision(
                earn_rule_id=rule["id"],
                fires=fires,
                packet_amount=Decimal(rule["packet_amount"]),
                reason=f"order {gross} {'≥' if fires else '<'} threshold {threshold}",
            )
        )
    return tuple(decisions)


def check_packet(
    *,
    packet_status: str,
    expires_at: datetime,
    amount: Decimal,
    min_spend: Decimal,
    categories: list[str],
    campaign_live: bool,
    lines: list[CartLine],
    now: datetime,
) -> PacketCheck:
    """Can this packet pay for these lines now? The discount is the packet amount, capped at what it covers."""
    if packet_status != "issued":
        return PacketCheck(False, f"packet_{packet_status}", f"The packet is {packet_status}.", ZERO)
    if expires_at <= now:
        return PacketCheck(False, "packet_expired", "The packet has expired.", ZERO)
    if not campaign_live:
        return PacketCheck(False, "campaign_not_active", "The packet's campaign is not running.", ZERO)
    eligible = [line for line in lines if not categories or line.category in categories]
    if not eligible:
        return PacketCheck(
            False, "packet_category_not_allowed", "No item in the order is in the packet's categories.", ZERO
        )
    eligible_total = sum((line.total for line in eligible), ZERO)
    if eligible_total < min_spend:
        return PacketCheck(
            False, "packet_min_spend_not_met", f"The packet needs a spend of {min_spend} on eligible items.", ZERO
        )
    return PacketCheck(True, "", "ok", min(amount, eligible_total))
