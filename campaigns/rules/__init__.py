"""The pure rule engine: plain data in, frozen results out, no database.

Production (redemption, the rebate worker, the audit) and the admin simulator call these same functions.
"""

from .engine import (
    CartLine,
    EarnDecision,
    PacketCheck,
    RebateLeg,
    check_packet,
    earn_decisions,
    rebate_legs,
    rebate_snapshot,
)

__all__ = [
    "CartLine",
    "EarnDecision",
    "PacketCheck",
    "RebateLeg",
    "check_packet",
    "earn_decisions",
    "rebate_legs",
    "rebate_snapshot",
]
