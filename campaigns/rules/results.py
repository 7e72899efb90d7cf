"""Frozen results of the rule engine. Each carries the reason a person reads in the simulator."""

from dataclasses import dataclass
from decimal import Decimal

from common.money import ZERO


@dataclass(frozen=True)
class Verdict:
    ok: bool
    code: str  # stable code when not ok ("" when ok)
    reason: str


@dataclass(frozen=True)
class EarnDecision:
    earn_rule_id: int
    fires: bool
    amount: Decimal  # the packet's value (the drawn tier, when tiered); ZERO when it does not fire
    reasons: tuple[Verdict, ...]
    code: str = ""  # the first failing check's code

    @property
    def reason(self) -> str:
        return "; ".join(v.reason for v in self.reasons)


@dataclass(frozen=True)
class RebateLeg:
    role: str  # issuer | holder
    amount: Decimal  # cost in CNY, to the fen
    currency: str  # what the beneficiary receives: CNY or POINTS
    units: Decimal  # in `currency`: CNY == amount; POINTS whole points
    form: str  # cash | points | marketing_credit
    funding: str  # campaign_budget | platform_pool
    reason: str


@dataclass(frozen=True)
class PacketCheck:
    ok: bool
    code: str
    reason: str
    discount: Decimal = ZERO
