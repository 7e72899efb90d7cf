"""Plain input data of the rule engine. Built by selectors from rows, or typed into the admin simulator."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from common.money import ZERO


@dataclass(frozen=True)
class CartLine:
    category: str
    quantity: int
    unit_price: Decimal

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class Region:
    province: str = ""
    city: str = ""

    def matches(self, scope: str) -> bool:
        """`scope` is "广东" (a whole province) or "广东/深圳" (one city)."""
        province, _, city = scope.partition("/")
        return self.province == province and (not city or self.city == city)


@dataclass(frozen=True)
class ShopperFacts:
    user_id: int | None = None
    prior_orders: int = 0
    segments: frozenset[str] = frozenset()
    region: Region = Region()


@dataclass(frozen=True)
class Counters:
    """What has been issued so far — only for explaining limits; production enforces them race-free in SQL."""

    user_packets: int = 0
    campaign_packets: int = 0
    spent_today: Decimal = ZERO


@dataclass(frozen=True)
class Event:
    """Something that may earn a packet: a purchase, a registration, a check-in, a share, a referral, a grant."""

    trigger: str
    at: datetime
    shopper: ShopperFacts = ShopperFacts()
    lines: tuple[CartLine, ...] = ()
    region: Region | None = None  # the order's region; the shopper's when absent
    merchant_id: int | None = None  # the merchant the order is placed at (where a packet would be spent)
    draw: float = 0.0  # uniform in [0, 1): picks a weighted tier; production passes a random number
    counters: Counters = field(default_factory=Counters)

    @property
    def gross(self) -> Decimal:
        return sum((line.total for line in self.lines), ZERO)

    @property
    def effective_region(self) -> Region:
        return self.region if self.region and self.region.province else self.shopper.region
