"""The pure rule engine: plain data in, frozen results out, no database.

Production (orders, the rebate worker, the audit) and the admin simulator call these same functions."""

from .engine import check_packet, draw_tier, evaluate_earn, rebate_legs, simulate
from .facts import CartLine, Counters, Event, Region, ShopperFacts
from .results import EarnDecision, PacketCheck, RebateLeg, Verdict
from .spec import CampaignSpec, CategoryRate, EarnSpec, LegSpec, Multiplier, RebateSpec, Tier

__all__ = [
    "CampaignSpec",
    "CartLine",
    "CategoryRate",
    "Counters",
    "EarnDecision",
    "EarnSpec",
    "Event",
    "LegSpec",
    "Multiplier",
    "PacketCheck",
    "RebateLeg",
    "RebateSpec",
    "Region",
    "ShopperFacts",
    "Tier",
    "Verdict",
    "check_packet",
    "draw_tier",
    "evaluate_earn",
    "rebate_legs",
    "simulate",
]
