"""A campaign's rules as frozen plain data, and the JSON snapshot a redemption keeps of its rebate rule."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from common.money import ZERO

TRIGGERS = ("purchase", "registration", "check_in", "share", "referral", "manual")


@dataclass(frozen=True)
class Tier:
    amount: Decimal
    weight: int


@dataclass(frozen=True)
class EarnSpec:
    id: int
    trigger: str
    amount: Decimal
    threshold: Decimal = ZERO
    tiers: tuple[Tier, ...] = ()
    min_spend: Decimal = ZERO
    valid_days: int = 30
    allowed_categories: tuple[str, ...] = ()
    denied_categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class LegSpec:
    mode: str = "rate"  # rate | fixed
    rate: Decimal = ZERO  # percent
    fixed: Decimal = ZERO
    cap: Decimal | None = None
    funding: str = "campaign_budget"  # campaign_budget | platform_pool


@dataclass(frozen=True)
class CategoryRate:
    category: str
    issuer_rate: Decimal | None
    holder_rate: Decimal | None


@dataclass(frozen=True)
class Multiplier:
    starts_at: datetime
    ends_at: datetime
    factor: Decimal

    def covers(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at


@dataclass(frozen=True)
class RebateSpec:
    issuer: LegSpec = LegSpec()
    holder: LegSpec = LegSpec()
    base: str = "gross"  # gross | paid
    holder_form: str = "cash"  # cash | points | coupon
    points_per_cny: int = 100
    category_rates: tuple[CategoryRate, ...] = ()
    multipliers: tuple[Multiplier, ...] = ()

    def to_snapshot(self, *, issuer_merchant_id: int | None, issuer_user_id: int | None) -> dict:
        def leg(spec: LegSpec) -> dict:
            return {
                "mode": spec.mode,
                "rate": str(spec.rate),
                "fixed": str(spec.fixed),
                "cap": None if spec.cap is None else str(spec.cap),
                "funding": spec.funding,
            }

        return {
            "version": 2,
            "issuer_merchant_id": issuer_merchant_id,
            "issuer_user_id": issuer_user_id,
            "issuer": leg(self.issuer),
            "holder": leg(self.holder),
            "base": self.base,
            "holder_form": self.holder_form,
            "points_per_cny": self.points_per_cny,
            "category_rates": [
                [c.category, _opt_str(c.issuer_rate), _opt_str(c.holder_rate)] for c in self.category_rates
            ],
            "multipliers": [[m.starts_at.isoformat(), m.ends_at.isoformat(), str(m.factor)] for m in self.multipliers],
        }

    @classmethod
    def from_snapshot(cls, data: dict) -> "RebateSpec":
        def leg(d: dict) -> LegSpec:
            return LegSpec(
                mode=d["mode"],
                rate=Decimal(d["rate"]),
                fixed=Decimal(d["fixed"]),
                cap=None if d["cap"] is None else Decimal(d["cap"]),
                funding=d["funding"],
            )

        return cls(
            issuer=leg(data["issuer"]),
            holder=leg(data["holder"]),
            base=data["base"],
            holder_form=data["holder_form"],
            points_per_cny=int(data["points_per_cny"]),
            category_rates=tuple(CategoryRate(c, _opt_dec(i), _opt_dec(h)) for c, i, h in data["category_rates"]),
            multipliers=tuple(
                Multiplier(datetime.fromisoformat(s), datetime.fromisoformat(e), Decimal(f))
                for s, e, f in data["multipliers"]
            ),
        )


@dataclass(frozen=True)
class CampaignSpec:
    id: int
    merchant_id: int | None
    status: str
    starts_at: datetime
    ends_at: datetime
    earn_rules: tuple[EarnSpec, ...] = ()
    rebate: RebateSpec | None = None
    regions: tuple[str, ...] = ()
    user_scope: str = "all"  # all | new_users | segments
    segments: tuple[str, ...] = ()
    per_user_limit: int = 0  # 0 = no limit
    packet_limit: int = 0
    daily_budget_cap: Decimal = ZERO  # 0 = no cap
    allow_stacking: bool = False


def _opt_str(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _opt_dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)
