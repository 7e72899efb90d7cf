"""The risk rules: plain facts in, a frozen assessment out. No database access, so the rules are tested directly and
the same code scores redemptions, rebates and the evaluation corpus.

Rules run in this fixed order (docs/ANTIFRAUD.md), in the spirit of Stripe Radar's allow / block / review lists:
1. allow list (account, device or IP listed by an operator): allow, nothing else is looked at;
2. block list, banned account, banned device: block;
3. scored signals, each adding its weight (capped at 100): trail, device, IP, merchant-staff overlap, detector
   findings, account age, packet age — and, for a rebate, the signals of the redemption that earned it;
4. the campaign's policy turns the score into a decision: `allow` only records; `hold` holds from the review score;
   `block` also refuses from the block score.
"""

from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

ALLOW, REVIEW, BLOCK = "allow", "review", "block"

# Weights. A single weak signal never holds (review score 50 by default); the trail signals alone do, because a
# redemption without a believable shopping trail is the seed's "fake order" (虛假交易).
WEIGHTS = {
    "no_trail": 55,
    "trail_too_fast": 55,
    "scripted_trail": 70,
    "similar_trail": 25,
    "device_shared": 40,
    "device_crowded": 60,
    "ip_shared": 25,
    "staff_overlap": 70,
    "open_finding": 60,
    "new_account": 10,
    "packet_just_earned": 5,
}
DEVICE_SHARED_AT, DEVICE_CROWDED_AT = 3, 5  # accounts on one device in 30 days
IP_SHARED_AT = 5  # accounts earning from one IP in a day
TRAIL_MIN_SECONDS = 30  # from the first step to the order
NEW_ACCOUNT_SECONDS = 3600
FRESH_PACKET_SECONDS = 120

DESCRIPTIONS = {
    "allow_listed": _("On the allow list (%(what)s)."),
    "block_listed": _("On the block list (%(what)s)."),
    "user_banned": _("The account is banned."),
    "device_banned": _("The device is banned."),
    "no_trail": _("No shopping trail before the order (no browsing, cart or checkout steps)."),
    "trail_too_fast": _("The shopping trail took only %(seconds)s seconds from the first step to the order."),
    "scripted_trail": _("%(twins)s other accounts had exactly the same trail (steps and timing) in the last day."),
    "similar_trail": _("One other account had exactly the same trail (steps and timing) in the last day."),
    "device_shared": _("%(accounts)s accounts used this device in the last 30 days."),
    "device_crowded": _("%(accounts)s accounts used this device in the last 30 days."),
    "ip_shared": _("%(accounts)s accounts earned packets from this IP address today."),
    "staff_overlap": _("The shopper shares %(what)s with the merchant's staff."),
    "open_finding": _("Named in open fraud findings: %(findings)s."),
    "new_account": _("The account is less than an hour old."),
    "packet_just_earned": _("The packet was spent %(seconds)s seconds after it was received."),
}


@dataclass(frozen=True)
class Signal:
    code: str
    weight: int
    params: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        return str(DESCRIPTIONS[self.code]) % dict(self.params)

    def as_json(self) -> dict:
        return {"code": self.code, "weight": self.weight, "params": dict(self.params), "detail": self.describe()}

    @classmethod
    def from_json(cls, data: dict) -> "Signal":
        return cls(data["code"], int(data["weight"]), tuple(sorted((k, str(v)) for k, v in data["params"].items())))


def signal(code: str, **params) -> Signal:
    return Signal(code, WEIGHTS.get(code, 0), tuple(sorted((k, str(v)) for k, v in params.items())))


@dataclass(frozen=True)
class Policy:
    action: str = "block"
    review_score: int = 50
    block_score: int = 90
    trail_required: bool = True

    def as_json(self) -> dict:
        return {"action": self.action, "review_score": self.review_score, "block_score": self.block_score}


@dataclass(frozen=True)
class TrailFacts:
    events: int
    seconds: int
    twins: int
    signature: str = ""  # the shape's id (not scored: recorded for the scripted-trail detector)


@dataclass(frozen=True)
class RiskFacts:
    allow_listed: tuple[str, ...] = ()  # which of account / device / IP an allow entry matched
    block_listed: tuple[str, ...] = ()
    user_banned: bool = False
    device_banned: bool = False
    trail: TrailFacts | None = None  # None: no trail is expected here (a rebate, or a policy without trails)
    device_accounts: int = 0
    ip_accounts: int = 0
    staff_overlap: tuple[str, ...] = ()  # "device", "IP address"
    open_findings: tuple[str, ...] = ()  # "#12 referral farm"
    account_age_seconds: int | None = None
    packet_age_seconds: int | None = None
    inherited: tuple[Signal, ...] = field(default=())  # a rebate carries its redemption's signals


@dataclass(frozen=True)
class Assessment:
    score: int
    decision: str
    signals: tuple[Signal, ...]

    def signals_json(self) -> list[dict]:
        return [s.as_json() for s in self.signals]


def _trail_signals(trail: TrailFacts) -> list[Signal]:
    if trail.events == 0:
        return [signal("no_trail")]
    found = []
    if trail.seconds < TRAIL_MIN_SECONDS:
        found.append(signal("trail_too_fast", seconds=trail.seconds))
    if trail.twins >= 2:
        found.append(signal("scripted_trail", twins=trail.twins))
    elif trail.twins == 1:
        found.append(signal("similar_trail"))
    return found


def _scored(facts: RiskFacts) -> list[Signal]:
    found = _trail_signals(facts.trail) if facts.trail is not None else []
    if facts.device_accounts >= DEVICE_CROWDED_AT:
        found.append(signal("device_crowded", accounts=facts.device_accounts))
    elif facts.device_accounts >= DEVICE_SHARED_AT:
        found.append(signal("device_shared", accounts=facts.device_accounts))
    if facts.ip_accounts >= IP_SHARED_AT:
        found.append(signal("ip_shared", accounts=facts.ip_accounts))
    if facts.staff_overlap:
        found.append(signal("staff_overlap", what=", ".join(facts.staff_overlap)))
    if facts.open_findings:
        found.append(signal("open_finding", findings=", ".join(facts.open_findings)))
    if facts.account_age_seconds is not None and facts.account_age_seconds < NEW_ACCOUNT_SECONDS:
        found.append(signal("new_account"))
    if facts.packet_age_seconds is not None and facts.packet_age_seconds < FRESH_PACKET_SECONDS:
        found.append(signal("packet_just_earned", seconds=facts.packet_age_seconds))
    codes = {s.code for s in found}
    return found + [s for s in facts.inherited if s.code not in codes]


def assess(facts: RiskFacts, policy: Policy) -> Assessment:
    if facts.allow_listed:
        return Assessment(0, ALLOW, (signal("allow_listed", what=", ".join(facts.allow_listed)),))
    hard = []
    if facts.block_listed:
        hard.append(Signal("block_listed", 100, (("what", ", ".join(facts.block_listed)),)))
    if facts.user_banned:
        hard.append(Signal("user_banned", 100))
    if facts.device_banned:
        hard.append(Signal("device_banned", 100))
    if hard:
        return Assessment(100, BLOCK, tuple(hard))
    found = tuple(_scored(facts))
    score = min(100, sum(s.weight for s in found))
    decision = ALLOW
    if policy.action == BLOCK and score >= policy.block_score:
        decision = BLOCK
    elif policy.action in ("hold", BLOCK) and score >= policy.review_score:
        decision = REVIEW
    return Assessment(score, decision, found)
