"""What rebates announce to the apps above them (common.events)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class RebateBlocked:
    """A freshly credited rebate (held) whose risk assessment says block: anti-fraud rejects it, on the record."""

    rebate_id: int
    reason: str
