"""/metrics in the Prometheus text format: business counters computed from the database at each scrape (so every
web process answers the same, and a restart loses nothing) and the lag gauges (docs/REPORTS.md, "Metrics")."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from . import operations as ops


def _counter(name: str, doc: str, rows: list[ops.Labelled], *, value_of=lambda r: r.count) -> CounterMetricFamily:
    labels = sorted(rows[0].labels) if rows else []
    family = CounterMetricFamily(name, doc, labels=labels)
    for row in rows:
        family.add_metric([row.labels[k] for k in labels], value_of(row))
    return family


def _amount_fen(row: ops.Labelled) -> int:
    return ops.fen(row.amount)


class BusinessCollector:
    """Collected on each scrape; nothing is kept in the process."""

    def collect(self):
        issued = ops.packets_issued_by_channel()
        yield _counter("redpacket_packets_issued", "Packets issued, by issuance channel.", issued)
        yield _counter(
            "redpacket_packets_issued_fen", "Value of the packets issued, in fen.", issued, value_of=_amount_fen
        )
        redeemed = ops.redemptions_total()
        yield _counter("redpacket_redemptions", "Packets redeemed (spent on an order).", [redeemed])
        yield _counter(
            "redpacket_redemptions_discount_fen",
            "Discount the redeemed packets paid, in fen.",
            [redeemed],
            value_of=_amount_fen,
        )
        rebates = ops.rebates_by_role_and_status()
        yield _counter("redpacket_rebates", "Rebate legs, by role and current status.", rebates)
        yield _counter(
            "redpacket_rebates_cost_fen",
            "Cost of the rebate legs to their funder, in fen.",
            rebates,
            value_of=_amount_fen,
        )
        reversed_fen = CounterMetricFamily(
            "redpacket_rebates_reversed_fen", "Rebate cost given back by reversals, in fen."
        )
        reversed_fen.add_metric([], ops.fen(ops.rebates_reversed_cost()))
        yield reversed_fen
        payouts = ops.payouts_by_channel_and_status()
        yield _counter("redpacket_payouts", "Payouts, by channel and current status.", payouts)
        yield _counter("redpacket_payouts_fen", "Payout amounts, in fen.", payouts, value_of=_amount_fen)
        yield _counter("redpacket_refusals", "Packets earned but not issued, by refusal code.", ops.refusals_by_code())
        yield _counter(
            "redpacket_risk_decisions",
            "Anti-fraud verdicts by subject and decision (review = a hold, block = a refusal).",
            ops.antifraud_decisions(),
        )
        yield from self.gauges()

    def gauges(self):
        now = timezone.now()
        held = GaugeMetricFamily("redpacket_rebates_held_for_review", "Rebate legs held for review now.")
        held.add_metric([], ops.rebates_held_for_review_now())
        yield held
        outbox = ops.outbox_backlog(now=now)
        yield GaugeMetricFamily("redpacket_outbox_backlog", "Outbox events not done yet.", value=outbox.count)
        yield GaugeMetricFamily(
            "redpacket_outbox_oldest_age_seconds",
            "Age of the oldest outbox event not done.",
            value=outbox.oldest_age_seconds,
        )
        payouts = ops.payout_backlog(now=now)
        yield GaugeMetricFamily("redpacket_payout_backlog", "Payouts not settled yet.", value=payouts.count)
        yield GaugeMetricFamily(
            "redpacket_payout_backlog_fen",
            "Amount of the payouts not settled yet, in fen.",
            value=ops.fen(payouts.amount),
        )
        window = settings.REBATE_LAG_WINDOW_SECONDS
        lag = ops.rebate_lag(since=now - timedelta(seconds=window), until=now)
        quantiles = GaugeMetricFamily(
            "redpacket_rebate_lag_seconds",
            f"Redemption to rebates computed, over the last {window:g} s (NaN when none).",
            labels=["quantile"],
        )
        for quantile, value in (("0.5", lag.p50_seconds), ("0.99", lag.p99_seconds)):
            quantiles.add_metric([quantile], float("nan") if value is None else value)
        yield quantiles


def metrics_text() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BusinessCollector())
    return generate_latest(registry)
