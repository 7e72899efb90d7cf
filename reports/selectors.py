"""The evaluation report of a campaign over a range of days (docs/REPORTS.md defines every figure).

Two readers of the same facts (reports/facts.py): `from_raw=True` sums them straight from the raw rows (the
definition, and what the rollups are proved against); the default reads the rollups the workers maintain."""

import calendar
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import connection
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign, EarnRule
from common.money import ZERO, quantize

from .facts import CAMPAIGN_SOURCES, MERCHANT_SHOPPER_SOURCES, MERCHANT_SOURCES, PARTICIPANT_SOURCES, union_sql

BREAKDOWNS = ("tier", "trigger", "channel", "province")
FORMS = ("cash", "points", "coupon", "marketing_credit")
# Labels of the issuance channels and triggers that are not an earn rule's trigger (Packet.channel values).
CHANNEL_LABELS = {
    "order": _("purchase"),
    "batch": _("batch / code / poster"),
    "rebate": _("coupon rebate"),
    "refund": _("re-issued after a refund"),
    **{value: label for value, label in EarnRule.Trigger.choices},
}


@dataclass(frozen=True)
class Period:
    """Calendar days `start`…`end`, both included, in settings.TIME_ZONE."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def before(self) -> "Period":
        """The equal-length period just before this one."""
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def shifted(self, *, months: int) -> "Period":
        """The same calendar days `months` earlier (a day the month lacks becomes its last day: 31 Mar → 28 Feb)."""
        return Period(_months_back(self.start, months), _months_back(self.end, months))


def _months_back(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _rows(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, {"tz": settings.TIME_ZONE, **params})
        return cursor.fetchall()


_DIMENSIONS = (
    "CROSS JOIN LATERAL (VALUES ('total', ''), ('tier', f.tier), ('trigger', f.trig), ('channel', f.channel), "
    "('province', f.province)) d(dimension, value)"
)


def campaign_figures(campaign_ids: list[int], period: Period, *, from_raw: bool) -> list[tuple]:
    """(day, dimension, value, metric, amount) of the campaigns over the period: per day for the totals, summed over
    the period (day None) for the breakdowns' values (the report charts only the totals by day)."""
    params = {"ids": campaign_ids, "start": period.start, "end": period.end}
    if from_raw:
        sql = (
            "SELECT CASE WHEN d.dimension = 'total' THEN f.day END, d.dimension, d.value, f.metric, SUM(f.amount) "
            f"FROM ({union_sql(CAMPAIGN_SOURCES)}) f "
            f"{_DIMENSIONS} WHERE d.value IS NOT NULL AND f.campaign_id = ANY(%(ids)s) "
            "AND f.day BETWEEN %(start)s AND %(end)s GROUP BY 1, 2, 3, 4"
        )
    else:
        sql = (
            "SELECT CASE WHEN dimension = 'total' THEN day END, dimension, value, metric, SUM(amount) "
            "FROM reports_campaign_day "
            "WHERE campaign_id = ANY(%(ids)s) AND day BETWEEN %(start)s AND %(end)s GROUP BY 1, 2, 3, 4"
        )
    return _rows(sql, params)


def _period_params(periods: list[Period]) -> dict:
    """%(start_<i>)s / %(end_<i>)s of each period."""
    return {f"{k}_{i}": getattr(p, k) for i, p in enumerate(periods) for k in ("start", "end")}


def campaign_participants(campaign_ids: list[int], period: Period, *, from_raw: bool) -> tuple[int, int]:
    """(participants, new sign-ups): distinct shoppers over the whole period, not a sum of days. From the rollups:
    the shoppers whose span (the days they took part, reports_campaign_shopper_span) overlaps the period."""
    params = {"ids": campaign_ids, "start": period.start, "end": period.end}
    if from_raw:
        sql = (
            "SELECT COUNT(DISTINCT f.user_id), COUNT(DISTINCT f.user_id) FILTER (WHERE f.signed_up) "
            f"FROM ({union_sql(PARTICIPANT_SOURCES)}) f "
            "WHERE f.campaign_id = ANY(%(ids)s) AND f.day BETWEEN %(start)s AND %(end)s"
        )
    else:
        # One span row per campaign and shopper: over one campaign a shopper is one row (no DISTINCT to sort).
        count = "COUNT(*)" if len(set(campaign_ids)) == 1 else "COUNT(DISTINCT s.user_id)"
        sql = (
            f"SELECT {count}, {count} FILTER (WHERE s.signup_days && r.days) "
            "FROM reports_campaign_shopper_span s, (SELECT daterange(%(start)s, %(end)s, '[]') AS days) r "
            "WHERE s.campaign_id = ANY(%(ids)s) AND s.days && r.days"
        )
    [(participants, signups)] = _rows(sql, params)
    return participants, signups


def _merchant_filter(merchant_id: int | None) -> str:
    return "f.merchant_id = %(merchant)s" if merchant_id else "TRUE"


def merchant_figures(merchant_id: int | None, period: Period, *, from_raw: bool) -> dict[tuple[str, str, str], Decimal]:
    """{(dimension, value, metric): amount} of a merchant's orders (every merchant's for None) over the period."""
    if not from_raw:
        [figures] = merchant_figures_by_period(merchant_id, [period])
        return figures
    rows = _rows(
        f"SELECT f.dimension, f.value, f.metric, SUM(f.amount) FROM ({union_sql(MERCHANT_SOURCES)}) f "
        f"WHERE {_merchant_filter(merchant_id)} AND f.day BETWEEN %(start)s AND %(end)s GROUP BY 1, 2, 3",
        {"merchant": merchant_id, "start": period.start, "end": period.end},
    )
    return {(dimension, value, metric): amount for dimension, value, metric, amount in rows}


def merchant_figures_by_period(
    merchant_id: int | None, periods: list[Period]
) -> list[dict[tuple[str, str, str], Decimal]]:
    """merchant_figures of each period, from the rollups (reports_merchant_day), in one query."""
    values = ", ".join(f"({i}, %(start_{i})s::date, %(end_{i})s::date)" for i in range(len(periods)))
    rows = _rows(
        f"SELECT p.i, f.dimension, f.value, f.metric, SUM(f.amount) FROM (VALUES {values}) p(i, start, stop) "
        f"JOIN reports_merchant_day f ON f.day BETWEEN p.start AND p.stop WHERE {_merchant_filter(merchant_id)} "
        "GROUP BY 1, 2, 3, 4",
        {"merchant": merchant_id, **_period_params(periods)},
    )
    figures: list[dict[tuple[str, str, str], Decimal]] = [{} for _ in periods]
    for i, dimension, value, metric, amount in rows:
        figures[i][(dimension, value, metric)] = amount
    return figures


def merchant_shoppers(merchant_id: int | None, periods: list[Period]) -> list[int]:
    """The distinct shoppers who ordered at the merchant (at any merchant for None) in each period, from the
    rollups: the shoppers whose span of order days (reports_merchant_shopper_span) overlaps it, in one query."""
    count = "COUNT(*)" if merchant_id else "COUNT(DISTINCT f.user_id)"  # a shopper is one span row per merchant
    ranges = [f"daterange(%(start_{i})s, %(end_{i})s, '[]')" for i in range(len(periods))]
    [row] = _rows(
        "SELECT "
        + ", ".join(f"{count} FILTER (WHERE f.days && {r})" for r in ranges)
        + f" FROM reports_merchant_shopper_span f WHERE {_merchant_filter(merchant_id)} "
        f"AND f.days && datemultirange({', '.join(ranges)})",
        {"merchant": merchant_id, **_period_params(periods)},
    )
    return list(row)


def merchant_activity(merchant_id: int | None, period: Period, *, from_raw: bool) -> tuple[int, Decimal, int]:
    """(orders, gross sales, distinct shoppers who ordered) at the merchant over the period."""
    if not from_raw:
        [activity] = _activities(merchant_id, [period], merchant_figures_by_period(merchant_id, [period]))
        return activity
    [(orders, gross, shoppers)] = _rows(
        "SELECT COALESCE(SUM(f.orders), 0), COALESCE(SUM(f.gross), 0), COUNT(DISTINCT f.user_id) "
        f"FROM ({union_sql(MERCHANT_SHOPPER_SOURCES)}) f "
        f"WHERE {_merchant_filter(merchant_id)} AND f.day BETWEEN %(start)s AND %(end)s",
        {"merchant": merchant_id, "start": period.start, "end": period.end},
    )
    return int(orders), Decimal(gross), shoppers


def _activities(merchant_id: int | None, periods: list[Period], figures: list[dict]) -> list[tuple[int, Decimal, int]]:
    """merchant_activity of each period from the rollups: the orders and gross of the merchant's day totals (the
    same orders the shopper-days sum), the shoppers from the spans."""
    return [
        (
            int(totals.get(("total", "", "orders"), 0)),
            Decimal(totals.get(("total", "", "gross"), ZERO)),
            shoppers,
        )
        for totals, shoppers in zip(figures, merchant_shoppers(merchant_id, periods), strict=True)
    ]


# --- the report ------------------------------------------------------------------------------------------------------


def ratio(numerator: Decimal, denominator: Decimal) -> str | None:
    """A ratio to four places, half up; None when there is nothing to divide by."""
    if not denominator:
        return None
    return str((Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def _money(amount: Decimal) -> str:
    return str(quantize(Decimal(amount)))


def _count_value(metrics: dict, name: str) -> dict:
    return {"count": int(metrics.get(f"{name}_count", 0)), "value": _money(metrics.get(f"{name}_value", ZERO))}


def _cashback(metrics: dict) -> Decimal:
    return (
        metrics.get("issuer", ZERO) + metrics.get("holder", ZERO) + metrics.get("program_rewards", ZERO)
    ) - metrics.get("reversed", ZERO)


def _label(dimension: str, value: str) -> str:
    if dimension in ("trigger", "channel"):
        return str(CHANNEL_LABELS.get(value, value))  # a poster's channel tag is shown as it was typed
    if dimension == "province" and not value:
        return str(_("unknown"))
    return value


def _sales_change(current: Decimal, previous: Decimal) -> dict:
    change = ratio(current - previous, previous)
    return {"current": _money(current), "previous": _money(previous), "change": change}


def _activity(current: tuple[int, Decimal, int], previous: tuple[int, Decimal, int]) -> dict:
    """Orders and sales per active shopper, now and in the equal-length period before, and their ratio (the lift)."""
    (orders, sales, shoppers), (orders_before, sales_before, shoppers_before) = current, previous

    def lift(now: Decimal, before: Decimal) -> str | None:
        if not (shoppers and shoppers_before and before):
            return None
        return ratio(Decimal(now) * shoppers_before, Decimal(before) * shoppers)

    return {
        "active_shoppers": shoppers,
        "active_shoppers_before": shoppers_before,
        "orders_per_shopper": ratio(orders, shoppers),
        "orders_per_shopper_before": ratio(orders_before, shoppers_before),
        "orders_lift": lift(orders, orders_before),
        "sales_per_shopper": ratio(sales, shoppers),
        "sales_per_shopper_before": ratio(sales_before, shoppers_before),
        "sales_lift": lift(sales, sales_before),
    }


def campaign_report(*, campaign: Campaign, period: Period, from_raw: bool = False) -> dict:
    """Every figure of the evaluation report of one campaign over `period`."""
    rows = campaign_figures([campaign.pk], period, from_raw=from_raw)
    totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
    daily: dict[date, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    groups: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    for day, dimension, value, metric, amount in rows:
        if dimension == "total":
            totals[metric] += amount
            daily[day][metric] += amount
        else:
            groups[(dimension, value)][metric] += amount
    participants, signups = campaign_participants([campaign.pk], period, from_raw=from_raw)

    merchant_id = campaign.merchant_id  # a platform campaign is measured against every merchant's sales
    periods = [period, period.shifted(months=12), period.shifted(months=1), period.before()]
    if from_raw:
        merchant, year_ago, month_ago = (merchant_figures(merchant_id, p, from_raw=True) for p in periods[:3])
        now, before = (merchant_activity(merchant_id, p, from_raw=True) for p in (period, period.before()))
    else:  # one query for the four periods' day totals, one for the two periods' shoppers
        merchant, year_ago, month_ago, previous = merchant_figures_by_period(merchant_id, periods)
        now, before = _activities(merchant_id, [period, period.before()], [merchant, previous])
    sales = merchant.get(("total", "", "gross"), ZERO)
    categories = sorted(
        ((value, amount) for (dimension, value, metric), amount in merchant.items() if dimension == "category"),
        key=lambda item: (-item[1], item[0]),
    )
    line_sales = sum((amount for _value, amount in categories), ZERO)
    activity = _activity(now, before)

    net = _cashback(totals)
    cost = totals["discount"] + net
    breakdowns = {dimension: [] for dimension in BREAKDOWNS}
    for (dimension, value), metrics in sorted(groups.items(), key=lambda g: (g[0][0], -g[1]["issued_value"], g[0][1])):
        breakdowns[dimension].append(
            {
                "value": value,
                "label": _label(dimension, value),
                "issued": _count_value(metrics, "issued"),
                "used": _count_value(metrics, "used"),
                "usage_rate": ratio(metrics["used_count"], metrics["issued_count"]),
                "sales_driven": _money(metrics["sales_driven"]),
                "cashback": _money(_cashback(metrics)),
            }
        )
    series = []
    day = period.start
    while day <= period.end:
        metrics = daily.get(day, {})
        series.append(
            {
                "day": day.isoformat(),
                "issued_count": int(metrics.get("issued_count", 0)),
                "issued_value": _money(metrics.get("issued_value", ZERO)),
                "used_count": int(metrics.get("used_count", 0)),
                "used_value": _money(metrics.get("used_value", ZERO)),
                "cashback": _money(_cashback(metrics)),
                "sales_driven": _money(metrics.get("sales_driven", ZERO)),
            }
        )
        day += timedelta(days=1)

    return {
        "campaign": {"id": campaign.pk, "name": campaign.name, "merchant_id": campaign.merchant_id},
        "from": period.start.isoformat(),
        "to": period.end.isoformat(),
        "days": period.days,
        "participants": participants,
        "new_signups": signups,
        "activity_lift": activity,
        "packets": {
            "issued": _count_value(totals, "issued"),
            "claimed": _count_value(totals, "claimed"),
            "used": _count_value(totals, "used"),
            "expired": _count_value(totals, "expired"),
            "usage_rate": ratio(totals["used_count"], totals["issued_count"]),
        },
        "cashback": {
            "issuer": _money(totals["issuer"]),
            "holder": _money(totals["holder"]),
            "program_rewards": _money(totals["program_rewards"]),
            "reversed": _money(totals["reversed"]),
            "net": _money(net),
            "by_form": {form: _money(totals[f"form_{form}"]) for form in FORMS},
        },
        "sales_driven": _money(totals["sales_driven"]),
        "packet_value_spent": _money(totals["discount"]),
        "cost": _money(cost),
        "roi": ratio(totals["sales_driven"], cost),
        "breakdowns": breakdowns,
        "merchant_sales": _money(sales),
        "sales_yoy": _sales_change(sales, year_ago.get(("total", "", "gross"), ZERO)),
        "sales_mom": _sales_change(sales, month_ago.get(("total", "", "gross"), ZERO)),
        "category_shares": [
            {"category": value, "sales": _money(amount), "share": ratio(amount, line_sales)}
            for value, amount in categories
        ],
        "daily": series,
    }
