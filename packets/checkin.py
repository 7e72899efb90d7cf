"""Daily check-in: once a calendar day (Asia/Shanghai), a streak, and the packets the check-in trigger earns."""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from antifraud.limits import NO_CONTEXT, EarnContext
from campaigns.models import EarnRule

from .models import CheckIn, Packet
from .services import packets_issue_for_event

CHECKIN_ZONE = ZoneInfo("Asia/Shanghai")  # a check-in day is a calendar day in China, wherever the server runs


def checkin_day(now: datetime) -> date:
    return now.astimezone(CHECKIN_ZONE).date()


@dataclass
class CheckInResult:
    checkin: CheckIn
    created: bool
    packets: list[Packet] = field(default_factory=list)


def checkin_record(*, user: User, context: EarnContext = NO_CONTEXT, now: datetime | None = None) -> CheckInResult:
    """Check `user` in for today (Asia/Shanghai). Once a day: a second call — a double tap, a second tab, a retry —
    returns today's check-in with `created=False` and issues nothing. The row and the packets its trigger earns
    commit together, so a failed issuance leaves no check-in behind and the shopper can simply try again.

    Concurrent calls are serialised by the unique (user, day) index: the second insert waits for the first
    transaction and then fails, and reads the committed row."""
    now = now or timezone.now()
    day = checkin_day(now)
    with transaction.atomic():
        previous = (
            CheckIn.objects.filter(user=user, day=day - timedelta(days=1)).values_list("streak", flat=True).first()
        )
        try:
            with transaction.atomic():
                checkin = CheckIn.objects.create(user=user, day=day, streak=(previous or 0) + 1)
        except IntegrityError:
            return CheckInResult(CheckIn.objects.get(user=user, day=day), created=False)
        issued = packets_issue_for_event(trigger=EarnRule.Trigger.CHECK_IN, shopper=user, context=context, now=now)
    return CheckInResult(checkin, created=True, packets=issued)


@dataclass
class CheckInStatus:
    today: date
    checked_in_today: bool
    streak: int  # consecutive days up to today, or up to yesterday while today is still open
    week: list[dict]


def checkin_status(user: User, *, now: datetime | None = None) -> CheckInStatus:
    today = checkin_day(now or timezone.now())
    recent = {c.day: c for c in CheckIn.objects.filter(user=user, day__gte=today - timedelta(days=6), day__lte=today)}
    current = recent.get(today) or recent.get(today - timedelta(days=1))
    week = []
    for offset in range(6, -1, -1):
        day = today - timedelta(days=offset)
        week.append({"day": day, "done": day in recent, "is_today": offset == 0})
    return CheckInStatus(today, today in recent, current.streak if current else 0, week)
