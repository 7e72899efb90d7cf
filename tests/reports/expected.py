"""The report's figures computed again, independently: plain Python over the ORM rows, no SQL of reports/."""

from collections import defaultdict
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

from antifraud.models import EarningEvent
from packets.models import Order, OrderLine, Packet, Redemption
from rebates.models import Rebate

D = Decimal
ZERO = D("0.00")


def day_of(moment):
    return timezone.localdate(moment)


def within(moment, period) -> bool:
    return period.start <= day_of(moment) <= period.end


def ratio(a, b):
    return None if not b else str((D(a) / D(b)).quantize(D("0.0001"), rounding=ROUND_HALF_UP))


def money(x) -> str:
    return str(D(x).quantize(D("0.01")))


def campaign_expected(campaign, period) -> dict:
    packets = list(Packet.objects.filter(campaign=campaign).select_related("earn_rule", "source_order"))
    issued = [p for p in packets if within(p.issued_at, period)]
    claims = [
        e
        for e in EarningEvent.objects.filter(kind="claim", campaign=campaign).select_related("packet")
        if within(e.at, period)
    ]
    claimed_at_issue = [p for p in issued if p.batch_id is None]
    redemptions = [
        r
        for r in Redemption.objects.filter(packet__campaign=campaign).select_related("packet__earn_rule", "order")
        if within(r.used_at, period)
    ]
    expired = [p for p in packets if p.status == "expired" and within(p.expires_at, period)]
    rebates = [r for r in Rebate.objects.filter(redemption__in=redemptions).select_related("redemption")]

    issuer = sum((r.cost for r in rebates if r.role == "issuer"), ZERO)
    holder = sum((r.cost for r in rebates if r.role == "holder"), ZERO)
    reversed_ = sum((r.reversed_amount for r in rebates), ZERO)  # cash and marketing credit: cost == amount
    net = issuer + holder - reversed_
    discount = sum((r.order.discount for r in redemptions), ZERO)
    sales_driven = sum((r.order.gross_amount for r in redemptions), ZERO)
    cost = discount + net

    participants = (
        {p.holder_id for p in claimed_at_issue}
        | {e.user_id for e in claims}
        | {r.order.shopper_id for r in redemptions}
    )
    signups = {p.holder_id for p in claimed_at_issue if p.channel in ("registration", "referral")}

    def trigger_of(packet):
        return packet.earn_rule.trigger if packet.earn_rule_id else packet.channel

    def rows(key_of_packet, key_of_redemption):
        groups = defaultdict(lambda: defaultdict(lambda: ZERO))
        for p in issued:
            groups[key_of_packet(p)]["issued_count"] += 1
            groups[key_of_packet(p)]["issued_value"] += p.amount
        for r in redemptions:
            g = groups[key_of_redemption(r)]
            g["used_count"] += 1
            g["used_value"] += r.packet.amount
            g["sales_driven"] += r.order.gross_amount
        for rb in rebates:
            groups[key_of_redemption(rb.redemption)]["cashback"] += rb.cost - rb.reversed_amount
        return {
            value: {
                "issued": {"count": int(g["issued_count"]), "value": money(g["issued_value"])},
                "used": {"count": int(g["used_count"]), "value": money(g["used_value"])},
                "usage_rate": ratio(g["used_count"], g["issued_count"]),
                "sales_driven": money(g["sales_driven"]),
                "cashback": money(g["cashback"]),
            }
            for value, g in groups.items()
        }

    daily = []
    day = period.start
    while day <= period.end:
        used_today = [r for r in redemptions if day_of(r.used_at) == day]
        daily.append(
            {
                "day": day.isoformat(),
                "issued_count": sum(1 for p in issued if day_of(p.issued_at) == day),
                "issued_value": money(sum((p.amount for p in issued if day_of(p.issued_at) == day), ZERO)),
                "used_count": len(used_today),
                "used_value": money(sum((r.packet.amount for r in used_today), ZERO)),
                "cashback": money(
                    sum((rb.cost - rb.reversed_amount for rb in rebates if rb.redemption in used_today), ZERO)
                ),
                "sales_driven": money(sum((r.order.gross_amount for r in used_today), ZERO)),
            }
        )
        day += timedelta(days=1)

    return {
        "participants": len(participants),
        "new_signups": len(signups),
        "packets": {
            "issued": {"count": len(issued), "value": money(sum((p.amount for p in issued), ZERO))},
            "claimed": {
                "count": len(claimed_at_issue) + len(claims),
                "value": money(
                    sum((p.amount for p in claimed_at_issue), ZERO) + sum((e.packet.amount for e in claims), ZERO)
                ),
            },
            "used": {"count": len(redemptions), "value": money(sum((r.packet.amount for r in redemptions), ZERO))},
            "expired": {"count": len(expired), "value": money(sum((p.amount for p in expired), ZERO))},
            "usage_rate": ratio(len(redemptions), len(issued)),
        },
        "cashback": {
            "issuer": money(issuer),
            "holder": money(holder),
            "program_rewards": "0.00",
            "reversed": money(reversed_),
            "net": money(net),
            "by_form": {
                form: money(sum((r.cost for r in rebates if r.form == form), ZERO))
                for form in ("cash", "points", "coupon", "marketing_credit")
            },
        },
        "sales_driven": money(sales_driven),
        "packet_value_spent": money(discount),
        "cost": money(cost),
        "roi": ratio(sales_driven, cost),
        "breakdowns": {
            "tier": rows(lambda p: str(p.amount), lambda r: str(r.packet.amount)),
            "trigger": rows(trigger_of, lambda r: trigger_of(r.packet)),
            "channel": rows(lambda p: p.channel, lambda r: r.packet.channel),
            "province": rows(
                lambda p: p.source_order.province if p.source_order_id else "", lambda r: r.order.province
            ),
        },
        "daily": daily,
    }


def merchant_expected(merchant, period) -> dict:
    orders = list(Order.objects.filter(merchant=merchant))

    def sales(p):
        return sum((o.gross_amount for o in orders if within(o.created_at, p)), ZERO)

    def activity(p):
        mine = [o for o in orders if within(o.created_at, p)]
        return len(mine), sum((o.gross_amount for o in mine), ZERO), len({o.shopper_id for o in mine})

    def lift(now, before, shoppers, shoppers_before):
        if not (shoppers and shoppers_before and before):
            return None
        return ratio(D(now) * shoppers_before, D(before) * shoppers)

    now, before = activity(period), activity(period.before())
    lines = [li for li in OrderLine.objects.filter(order__merchant=merchant).select_related("order")]
    by_category = defaultdict(lambda: ZERO)
    for li in lines:
        if within(li.order.created_at, period):
            by_category[li.category] += li.unit_price * li.quantity
    total = sum(by_category.values(), ZERO)
    current = sales(period)
    year, month = sales(period.shifted(months=12)), sales(period.shifted(months=1))
    return {
        "merchant_sales": money(current),
        "sales_yoy": {"current": money(current), "previous": money(year), "change": ratio(current - year, year)},
        "sales_mom": {"current": money(current), "previous": money(month), "change": ratio(current - month, month)},
        "category_shares": sorted(
            [{"category": c, "sales": money(v), "share": ratio(v, total)} for c, v in by_category.items()],
            key=lambda row: (-D(row["sales"]), row["category"]),
        ),
        "activity_lift": {
            "active_shoppers": now[2],
            "active_shoppers_before": before[2],
            "orders_per_shopper": ratio(now[0], now[2]),
            "orders_per_shopper_before": ratio(before[0], before[2]),
            "orders_lift": lift(now[0], before[0], now[2], before[2]),
            "sales_per_shopper": ratio(now[1], now[2]),
            "sales_per_shopper_before": ratio(before[1], before[2]),
            "sales_lift": lift(now[1], before[1], now[2], before[2]),
        },
    }
