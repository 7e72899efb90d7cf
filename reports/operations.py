"""Operations figures read straight from the raw rows (docs/REPORTS.md, "Operations"): what happened since the start
(the business counters of /metrics), what happened in a window (the live monitor), and what is waiting now (the
backlogs and the rebate lag). Reads only; every amount is integer fen or Decimal, never a float."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Count, Min, Q, Sum
from django.utils import timezone
from kombu import Connection

from antifraud.models import EarningEvent, RiskAssessment
from packets.models import Packet, PacketNotIssued, Redemption
from rebates.models import OutboxEvent, Rebate
from rebates.payouts.models import Payout

ZERO = Decimal("0.00")


def fen(amount: Decimal | None) -> int:
    """A CNY amount as whole fen (what /metrics exports: an integer is exact in Prometheus' float64 up to 2^53)."""
    return int((amount or ZERO) * 100)


@dataclass(frozen=True)
class Labelled:
    labels: dict[str, str]
    count: int
    amount: Decimal = ZERO


def packets_issued_by_channel() -> list[Labelled]:
    rows = Packet.objects.values("channel").annotate(n=Count("pk"), value=Sum("amount")).order_by("channel")
    return [Labelled({"channel": r["channel"]}, r["n"], r["value"] or ZERO) for r in rows]


def redemptions_total() -> Labelled:
    row = Redemption.objects.aggregate(n=Count("pk"), value=Sum("order__discount"))
    return Labelled({}, row["n"], row["value"] or ZERO)


def rebates_by_role_and_status() -> list[Labelled]:
    """Rebate legs, CNY cost to their funder (points legs count at their CNY backing)."""
    rows = Rebate.objects.values("role", "status").annotate(n=Count("pk"), cost=Sum("cost")).order_by("role", "status")
    return [Labelled({"role": r["role"], "status": r["status"]}, r["n"], r["cost"] or ZERO) for r in rows]


def rebates_reversed_cost() -> Decimal:
    """What reversals gave back, in CNY cost: each leg's cost × reversed share (what the report's `reversed` sums)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(round(cost * reversed_amount / amount, 2)), 0) FROM rebates_rebate"
            " WHERE reversed_amount > 0"
        )
        return cursor.fetchone()[0]


def payouts_by_channel_and_status() -> list[Labelled]:
    rows = (
        Payout.objects.values("channel", "status")
        .annotate(n=Count("pk"), value=Sum("amount"))
        .order_by("channel", "status")
    )
    return [Labelled({"channel": r["channel"], "status": r["status"]}, r["n"], r["value"] or ZERO) for r in rows]


def refusals_by_code() -> list[Labelled]:
    """Packets an order earned but did not get (PacketNotIssued), by their stable code."""
    rows = PacketNotIssued.objects.values("code").annotate(n=Count("pk"), value=Sum("amount")).order_by("code")
    return [Labelled({"code": r["code"]}, r["n"], r["value"] or ZERO) for r in rows]


def antifraud_decisions() -> list[Labelled]:
    """Risk verdicts by subject and decision: `review` is an anti-fraud hold, `block` a refusal."""
    rows = RiskAssessment.objects.values("subject", "decision").annotate(n=Count("pk")).order_by("subject", "decision")
    return [Labelled({"subject": r["subject"], "decision": r["decision"]}, r["n"]) for r in rows]


def rebates_held_for_review_now() -> int:
    return Rebate.objects.filter(held_for_review=True, status=Rebate.Status.PENDING).count()


# --- what is waiting now --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backlog:
    count: int
    oldest_age_seconds: float  # 0 when empty
    amount: Decimal = ZERO


def _age(oldest: datetime | None, now: datetime) -> float:
    return max((now - oldest).total_seconds(), 0.0) if oldest else 0.0


def outbox_backlog(*, now: datetime | None = None) -> Backlog:
    """Outbox rows not done yet (rebates to compute, programs to run), and how long the oldest has waited."""
    now = now or timezone.now()
    row = OutboxEvent.objects.filter(done_at__isnull=True).aggregate(n=Count("pk"), oldest=Min("created_at"))
    return Backlog(row["n"], _age(row["oldest"], now))


def payout_backlog(*, now: datetime | None = None) -> Backlog:
    """Payouts not settled yet (requested, in flight, retrying), their sum and the oldest one's age."""
    now = now or timezone.now()
    row = Payout.objects.exclude(status__in=Payout.TERMINAL).aggregate(
        n=Count("pk"), oldest=Min("created_at"), value=Sum("amount")
    )
    return Backlog(row["n"], _age(row["oldest"], now), row["value"] or ZERO)


@dataclass(frozen=True)
class RebateLag:
    redemptions: int  # redemptions whose rebates were computed in the window
    p50_seconds: float | None
    p99_seconds: float | None


def rebate_lag(*, since: datetime, until: datetime | None = None) -> RebateLag:
    """From a redemption to its rebates being computed (its first rebate row), over redemptions whose rebates were
    computed in [since, until): the median and the 99th percentile, in seconds."""
    until = until or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY lag),
                   percentile_cont(0.99) WITHIN GROUP (ORDER BY lag)
              FROM (SELECT extract(epoch FROM min(r.created_at) - d.used_at) AS lag
                      FROM rebates_rebate r JOIN packets_redemption d ON d.id = r.redemption_id
                     GROUP BY d.id, d.used_at
                    HAVING min(r.created_at) >= %s AND min(r.created_at) < %s) AS lags
            """,
            [since, until],
        )
        n, p50, p99 = cursor.fetchone()
    return RebateLag(n, None if p50 is None else float(p50), None if p99 is None else float(p99))


def celery_queue_depth() -> int | None:
    """Messages waiting in the default Celery queue, or None when the broker cannot be reached in a second."""
    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=1) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0.2, timeout=1)
            declared = conn.default_channel.queue_declare(queue=settings.CELERY_TASK_DEFAULT_QUEUE, passive=True)
            return declared.message_count
    except Exception:  # any broker failure means "unavailable", never a broken page
        return None


# --- a window of activity (the live monitor) ------------------------------------------------------------------------


@dataclass(frozen=True)
class Activity:
    packets_issued: int
    packets_claimed: int
    packets_used: int
    rebates_credited: int
    rebates_credited_cost: Decimal
    payouts: int
    payouts_amount: Decimal


def activity(*, start: datetime, end: datetime) -> Activity:
    """What happened in [start, end): packets issued (any channel); claimed, as the report counts it (a packet issued
    to its holder is claimed at issue, a batch packet by its claim event); used (redemptions); rebate legs credited
    (by `confirmed_at`, set when a leg reaches its beneficiary, whatever happened to it since); payouts requested."""
    issued = Packet.objects.filter(issued_at__gte=start, issued_at__lt=end).aggregate(
        n=Count("pk"), direct=Count("pk", filter=Q(batch__isnull=True))
    )
    claimed = EarningEvent.objects.filter(kind=EarningEvent.Kind.CLAIM, at__gte=start, at__lt=end).count()
    used = Redemption.objects.filter(used_at__gte=start, used_at__lt=end).count()
    credited = Rebate.objects.filter(confirmed_at__gte=start, confirmed_at__lt=end).aggregate(
        n=Count("pk"), cost=Sum("cost")
    )
    payouts = Payout.objects.filter(created_at__gte=start, created_at__lt=end).aggregate(
        n=Count("pk"), value=Sum("amount")
    )
    return Activity(
        packets_issued=issued["n"],
        packets_claimed=issued["direct"] + claimed,
        packets_used=used,
        rebates_credited=credited["n"],
        rebates_credited_cost=credited["cost"] or ZERO,
        payouts=payouts["n"],
        payouts_amount=payouts["value"] or ZERO,
    )


WEEK = timedelta(days=7)
ACTIVITY_FIGURES = (
    "packets_issued",
    "packets_claimed",
    "packets_used",
    "rebates_credited",
    "rebates_credited_cost",
    "payouts",
    "payouts_amount",
)


def _activity_dict(figures: Activity) -> dict:
    return {name: str(getattr(figures, name)) for name in ACTIVITY_FIGURES}


def live_monitor(*, now: datetime | None = None) -> dict:
    """The live monitor's figures (JSON-ready: amounts as strings): the last hour and today so far (Asia/Shanghai),
    each against the same stretch a week before, the rebate lag over the last hour, the backlogs and the Celery
    queue's depth."""
    now = now or timezone.now()
    hour_start = now - timedelta(hours=1)
    day_start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    windows = {"last_hour": (hour_start, now), "today": (day_start, now)}
    lag = rebate_lag(since=hour_start, until=now)
    outbox, payouts = outbox_backlog(now=now), payout_backlog(now=now)
    return {
        "at": now.isoformat(),
        "windows": {
            name: {
                "current": _activity_dict(activity(start=start, end=end)),
                "week_before": _activity_dict(activity(start=start - WEEK, end=end - WEEK)),
            }
            for name, (start, end) in windows.items()
        },
        "rebate_lag": {"redemptions": lag.redemptions, "p50_seconds": lag.p50_seconds, "p99_seconds": lag.p99_seconds},
        "outbox_backlog": {"count": outbox.count, "oldest_age_seconds": outbox.oldest_age_seconds},
        "payout_backlog": {
            "count": payouts.count,
            "amount": str(payouts.amount),
            "oldest_age_seconds": payouts.oldest_age_seconds,
        },
        "celery_queue_depth": celery_queue_depth(),  # None: the broker is unavailable
    }
