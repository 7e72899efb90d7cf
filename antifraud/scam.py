"""The scam guard: a campaign whose shape looks like a pyramid (the seed's 發紅包雙倍返, "send a red packet, get double
back") goes live only once a platform operator approves it.

`scam_signals` is pure: a campaign's shape in, the signals it raises out, each explained in plain words. What this
platform's rules can express, and so what is checked (thresholds are settings, defaults in `Thresholds`):

* sender_paid_back — the packet's sender (its issuer) is promised a fixed return of at least the whole packet (after
  the multiplier and the cap), whatever the order: sending packets pays for itself and grows with every packet sent,
  "send one, get double back". (A rate leg grows with the order the packet brings in: that is commerce, and is
  checked by the two rate signals below.)
* issuer_rate_high — the issuer rate alone is at least ANTIFRAUD_SCAM_ISSUER_PERCENT (50 %) of the order.
* returns_high — both legs together return more than ANTIFRAUD_SCAM_TOTAL_PERCENT (30 %) of an order (the highest
  category rate; a fixed leg counted on the smallest order that uses the whole packet). More than a retail margin can
  pay for: the money has to come from somewhere else.
* referral_high — a referral program pays inviters more than ANTIFRAUD_SCAM_REFERRAL_PERCENT (20 %) of what their
  invitees spend: paying people for recruiting people.
* multiplier_high — a multiplier window of ×ANTIFRAUD_SCAM_MULTIPLIER (3) or more.

Rates are judged as the campaign normally pays them; a promotion window (雙倍返利 ×2) is judged on its own by
multiplier_high, so the seed's ordinary campaign with a ×2 day is not flagged. Only the fixed "send one, get it back"
promise is judged at the highest multiplier: ×2 on a return of half the packet is exactly "double back".

Not expressible here, so not checked: returns funded by participants. Every rebate is reserved at redemption from the
campaign's budget (paid in by the merchant, from its deposit or its marketing credit) or from the platform's pool;
shoppers never pay into a campaign. A feature that lets shoppers fund packets must add that check.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from common.money import ZERO

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Thresholds:
    total_percent: Decimal = Decimal(30)
    issuer_percent: Decimal = Decimal(50)
    referral_percent: Decimal = Decimal(20)
    multiplier: Decimal = Decimal(3)

    @classmethod
    def from_settings(cls) -> "Thresholds":
        return cls(
            total_percent=Decimal(str(getattr(settings, "ANTIFRAUD_SCAM_TOTAL_PERCENT", cls.total_percent))),
            issuer_percent=Decimal(str(getattr(settings, "ANTIFRAUD_SCAM_ISSUER_PERCENT", cls.issuer_percent))),
            referral_percent=Decimal(str(getattr(settings, "ANTIFRAUD_SCAM_REFERRAL_PERCENT", cls.referral_percent))),
            multiplier=Decimal(str(getattr(settings, "ANTIFRAUD_SCAM_MULTIPLIER", cls.multiplier))),
        )


@dataclass(frozen=True)
class Leg:
    mode: str = "rate"  # rate | fixed
    rate: Decimal = ZERO  # the highest of the flat rate and any category rate, percent
    fixed: Decimal = ZERO
    cap: Decimal | None = None

    def pays(self) -> bool:
        return (self.rate if self.mode == "rate" else self.fixed) > 0 and self.cap != ZERO


@dataclass(frozen=True)
class Packet:
    """One packet a campaign issues: its (smallest) amount, and the minimum spend to use it."""

    amount: Decimal
    min_spend: Decimal = ZERO

    @property
    def smallest_full_order(self) -> Decimal:
        """The smallest order that uses the whole packet."""
        return max(self.amount, self.min_spend)


@dataclass(frozen=True)
class Shape:
    packets: tuple[Packet, ...] = ()
    issuer: Leg = Leg()
    holder: Leg = Leg()
    multipliers: tuple[Decimal, ...] = ()
    referral_rate: Decimal | None = None


DESCRIPTIONS = {
    "sender_paid_back": _(
        "The sender of a %(packet)s packet is promised %(back)s back — %(percent)s%% of the packet, whatever the "
        "order. Sending packets pays for itself (“send a red packet, get double back”): the shape of a pyramid."
    ),
    "issuer_rate_high": _(
        "The sender (issuer) earns %(rate)s%% of every order its packets are spent on; the guard asks for approval "
        "from %(limit)s%%."
    ),
    "returns_high": _(
        "Rebates return up to %(percent)s%% of an order (both sides together); the guard asks for approval above "
        "%(limit)s%% — more than a shop's margin can pay for."
    ),
    "referral_high": _(
        "Inviters earn %(rate)s%% of what the people they bring in spend; the guard asks for approval above "
        "%(limit)s%%: it pays people for recruiting people."
    ),
    "multiplier_high": _(
        "A multiplier window multiplies every rebate by %(factor)s; the guard asks for approval from ×%(limit)s."
    ),
}


@dataclass(frozen=True)
class ScamSignal:
    code: str
    params: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        return str(DESCRIPTIONS[self.code]) % dict(self.params)

    def as_json(self) -> dict:
        return {"code": self.code, "params": dict(self.params), "detail": self.describe()}


def _signal(code: str, **params) -> ScamSignal:
    return ScamSignal(code, tuple(sorted((k, _plain(v)) for k, v in params.items())))


def _plain(value) -> str:
    if isinstance(value, Decimal):
        value = value.quantize(Decimal("0.01"))
        return f"{value.normalize():f}" if value == value.to_integral() else f"{value:f}"
    return str(value)


def _capped(amount: Decimal, cap: Decimal | None) -> Decimal:
    return amount if cap is None else min(amount, cap)


def _leg_back(leg: Leg, order: Decimal, factor: Decimal) -> Decimal:
    """What a leg pays on an order of this size, at this multiplier."""
    raw = leg.fixed if leg.mode == "fixed" else order * leg.rate / HUNDRED
    return _capped(raw * factor, leg.cap)


def scam_signals(shape: Shape, thresholds: Thresholds = Thresholds()) -> tuple[ScamSignal, ...]:
    """The signals a campaign's shape raises, in a fixed order; empty when it looks like an ordinary promotion."""
    found: list[ScamSignal] = []
    factor = max((f for f in shape.multipliers if f > 0), default=Decimal(1))
    factor = max(factor, Decimal(1))

    if shape.issuer.mode == "fixed" and shape.issuer.pays() and shape.packets:
        # The packet whose sender gets back the most, relative to the packet.
        worst = max(shape.packets, key=lambda p: _leg_back(shape.issuer, p.smallest_full_order, factor) / p.amount)
        back = _leg_back(shape.issuer, worst.smallest_full_order, factor)
        if back >= worst.amount:
            found.append(
                _signal("sender_paid_back", packet=worst.amount, back=back, percent=back * HUNDRED / worst.amount)
            )
    if shape.issuer.mode == "rate" and shape.issuer.pays() and shape.issuer.rate >= thresholds.issuer_percent:
        found.append(_signal("issuer_rate_high", rate=shape.issuer.rate, limit=thresholds.issuer_percent))

    percent = _returns_percent(shape)
    if percent > thresholds.total_percent:
        found.append(_signal("returns_high", percent=percent, limit=thresholds.total_percent))

    if shape.referral_rate is not None and shape.referral_rate > thresholds.referral_percent:
        found.append(_signal("referral_high", rate=shape.referral_rate, limit=thresholds.referral_percent))

    if factor >= thresholds.multiplier:
        found.append(_signal("multiplier_high", factor=factor, limit=thresholds.multiplier))
    return tuple(found)


def _returns_percent(shape: Shape) -> Decimal:
    """The most both legs can return, as a percent of the order. Rate legs are a percent already (caps left aside: a
    cap bounds the amount, not the share of a small order); fixed legs are counted on the smallest order that uses the
    whole packet (no packet: not counted)."""
    total = ZERO
    for leg in (shape.issuer, shape.holder):
        if not leg.pays():
            continue
        if leg.mode == "rate":
            total += leg.rate
        elif shape.packets:
            order = min(p.smallest_full_order for p in shape.packets)
            total += _capped(leg.fixed, leg.cap) * HUNDRED / order
    return total


# --- the campaign's shape, and the gate ------------------------------------------------------------------------------


def campaign_shape(campaign) -> Shape:
    """The shape of a campaign as the guard reads it (its rules loaded by `campaigns.selectors.campaign_with_rules`)."""
    from campaigns.models import ReferralProgram

    packets = []
    for rule in campaign.earn_rules.all():
        amounts = [t.amount for t in rule.parsed_tiers()] or [rule.packet_amount]
        packets += [Packet(amount, rule.min_spend) for amount in amounts]
    rule = getattr(campaign, "rebate_rule", None)
    categories = list(campaign.category_rates.all())

    def leg(side: str) -> Leg:
        if rule is None:
            return Leg()
        rates = [getattr(rule, f"{side}_rate")] + [
            getattr(c, f"{side}_rate") for c in categories if getattr(c, f"{side}_rate") is not None
        ]
        return Leg(
            mode=getattr(rule, f"{side}_mode"),
            rate=max(rates),
            fixed=getattr(rule, f"{side}_fixed"),
            cap=getattr(rule, f"{side}_cap"),
        )

    program = ReferralProgram.objects.filter(campaign_id=campaign.pk).first()
    return Shape(
        packets=tuple(packets),
        issuer=leg("issuer"),
        holder=leg("holder"),
        multipliers=tuple(m.factor for m in campaign.multiplier_windows.all()),
        referral_rate=program.inviter_rate if program else None,
    )


def _same(approved: list, signals: list[dict]) -> bool:
    """An approval covers the signals it was given (code and numbers): a new or a larger signal needs a new one."""
    covered = {(s.get("code"), tuple(sorted((s.get("params") or {}).items()))) for s in approved}
    return all((s["code"], tuple(sorted(s["params"].items()))) in covered for s in signals)


def campaign_approval_check(*, campaign_id: int) -> None:
    """The gate before a campaign goes live. A campaign the guard flags needs an approved `CampaignApproval` that
    covers what it flags: without one, the approval request is written (status "waiting for approval", with the
    signals) and `CampaignNeedsApproval` (409 campaign_needs_approval) is raised, listing the reasons.

    The request is written in its own transaction before the refusal is raised: call this outside the transaction
    that would change the status (campaigns.services does), so the request stays for the operators to find."""
    from campaigns.selectors import campaign_with_rules

    from .errors import CampaignNeedsApproval
    from .models import CampaignApproval

    shape = campaign_shape(campaign_with_rules(campaign_id))
    signals = [s.as_json() for s in scam_signals(shape, Thresholds.from_settings())]
    if not signals:
        return
    with transaction.atomic():
        approval, created = CampaignApproval.objects.select_for_update().get_or_create(
            campaign_id=campaign_id, defaults={"signals": signals}
        )
        if approval.status == CampaignApproval.Status.APPROVED and _same(approval.signals, signals):
            return
        refused_as_is = approval.status == CampaignApproval.Status.REFUSED and _same(approval.signals, signals)
        if not created and not refused_as_is:
            # Never asked, or asked about another shape: (again) waiting for approval, about this shape.
            CampaignApproval.objects.filter(pk=approval.pk).update(
                status=CampaignApproval.Status.REQUIRED, signals=signals, decided_by=None, decided_at=None, note=""
            )
            approval.status = CampaignApproval.Status.REQUIRED
    reasons = [s["detail"] for s in signals]
    if approval.status == CampaignApproval.Status.REFUSED:
        message = str(_("A platform operator refused this campaign: %(note)s")) % {"note": approval.note}
    else:
        message = str(_("This campaign needs a platform operator's approval before it can go live: %(reasons)s")) % {
            "reasons": " ".join(reasons)
        }
    raise CampaignNeedsApproval(
        message,
        details={"approval": approval.status, "reasons": reasons, "signals": [s["code"] for s in signals]},
    )
