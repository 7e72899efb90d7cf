"""What accounts announce to the apps above them (common.events)."""

from dataclasses import dataclass
from datetime import datetime

from antifraud.limits import EarnContext

from .models import User


@dataclass(frozen=True)
class PacketsEarned:
    """A sign-up event earned packets (`trigger` is an earn-rule trigger: registration, referral, share); the packets
    app issues them and its handler returns the packets issued."""

    trigger: str
    shopper: User
    context: EarnContext
    now: datetime
    issuer_user: User | None = None
