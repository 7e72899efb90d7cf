"""Limits on every earning path: claim, issuance (purchase, sign-up, check-in, share, referral) and redemption.

Two layers. django-ratelimit on the shared Redis cache turns away request bursts before any database work
(`burst_limited`). The database counts exactly: one conditional upsert per (campaign, path, scope, key) bumps the
day's count only when the limit and the minimum interval allow it, so concurrent requests — in any number of web
processes — can never pass a limit together (`earning_limits_count`). The counts live in the caller's transaction:
a refused or failed issuance takes its counts back with it. Packets one event earns together (a sign-up's newbie and
referral packets) share the event's time and count as one moment for the minimum interval — each still counts
towards the daily limits.
"""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _
from django_ratelimit.core import is_ratelimited

from accounts.models import Device, User

from .errors import EarningLimitReached
from .models import EarningEvent, RiskPolicy

EARN = "earn"  # a packet issued to, or claimed by, the shopper
REDEEM = "redeem"  # a packet spent


@dataclass(frozen=True)
class EarnContext:
    """Where an earning request came from. The IP is the shopper's (taken behind the trusted proxies only); the device
    is the page cookie's or, for API calls, the merchant-reported id (namespaced per merchant)."""

    ip: str | None = None
    device: Device | None = None
    trail_keys: tuple[str, ...] = ()


NO_CONTEXT = EarnContext()


def policy_for(campaign_id: int) -> RiskPolicy:
    """The campaign's policy row, or the defaults (an unsaved row) when it has none."""
    return RiskPolicy.objects.filter(campaign_id=campaign_id).first() or RiskPolicy(campaign_id=campaign_id)


_UPSERT = """
INSERT INTO antifraud_earncounter (campaign_id, path, scope, key, day, count, last_at)
VALUES (%(campaign)s, %(path)s, %(scope)s, %(key)s, %(day)s, 1, %(now)s)
ON CONFLICT (campaign_id, path, scope, key) DO UPDATE SET
    count = CASE WHEN antifraud_earncounter.day = EXCLUDED.day THEN antifraud_earncounter.count + 1 ELSE 1 END,
    day = EXCLUDED.day,
    last_at = EXCLUDED.last_at
WHERE (%(limit)s = 0 OR antifraud_earncounter.day <> EXCLUDED.day OR antifraud_earncounter.count < %(limit)s)
  AND (%(gap)s = 0 OR antifraud_earncounter.last_at <= EXCLUDED.last_at - make_interval(secs => %(gap)s)
       OR antifraud_earncounter.last_at = EXCLUDED.last_at)
RETURNING count"""


def _scopes(policy: RiskPolicy, user_id: int, context: EarnContext) -> list[tuple[str, str, int, int]]:
    """(scope, key, daily limit, minimum gap in seconds) for every scope that limits this request."""
    gap = policy.min_interval_minutes * 60
    scopes = [("account", str(user_id), policy.account_daily_limit, 0)]
    if context.ip:
        scopes.append(("ip", context.ip, policy.ip_daily_limit, gap))
    if context.device is not None:
        scopes.append(("device", str(context.device.pk), policy.device_daily_limit, gap))
    return [s for s in scopes if s[2] or s[3]]


def earning_limits_count(
    *, campaign_id: int, user_id: int, context: EarnContext, path: str, now: datetime, policy: RiskPolicy | None = None
) -> None:
    """Count one more packet on `path` for every scope, or raise EarningLimitReached naming the first limit hit.
    Run it inside the transaction (or savepoint) that issues, claims or spends the packet."""
    if context.device is not None and context.device.is_banned:
        raise EarningLimitReached(_("This device is banned."), code="device_banned", status=403)
    policy = policy or policy_for(campaign_id)
    day = timezone.localdate(now)
    with connection.cursor() as cursor:
        for scope, key, limit, gap in _scopes(policy, user_id, context):
            params = {"campaign": campaign_id, "path": path, "scope": scope, "key": key}
            cursor.execute(_UPSERT, {**params, "day": day, "now": now, "limit": limit, "gap": gap})
            if cursor.fetchone() is not None:
                continue
            cursor.execute(
                """SELECT day, count, last_at FROM antifraud_earncounter
                   WHERE campaign_id = %(campaign)s AND path = %(path)s AND scope = %(scope)s AND key = %(key)s""",
                params,
            )
            last_day, count, last_at = cursor.fetchone()
            if limit and last_day == day and count >= limit:
                raise EarningLimitReached(
                    _("At most %(limit)s packets per %(scope)s a day in this campaign.")
                    % {"limit": limit, "scope": scope},
                    code=f"{scope}_daily_limit",
                    details={"scope": scope, "limit": limit, "path": path},
                )
            wait = int(gap - (now - last_at).total_seconds()) + 1
            raise EarningLimitReached(
                _("Packets from one %(scope)s must be at least %(min_interval_minutes)s minutes apart.")
                % {"scope": scope, "min_interval_minutes": policy.min_interval_minutes},
                code=f"{scope}_too_soon",
                details={"scope": scope, "retry_after_seconds": max(wait, 1), "path": path},
            )


def earning_event_record(*, kind: str, packet, user: User, context: EarnContext, at: datetime) -> None:
    EarningEvent.objects.create(
        kind=kind, campaign_id=packet.campaign_id, packet=packet, user=user, ip=context.ip, device=context.device, at=at
    )


def burst_limited(request, *, group: str, device: Device | None = None) -> bool:
    """The request-rate layer on the shared cache: per client IP and per device, before any database work."""
    rate = settings.ANTIFRAUD_BURST_RATE
    if is_ratelimited(request, group=group, key="ip", rate=rate, increment=True):
        return True
    if device is not None:
        return is_ratelimited(request, group=group, key=lambda _g, _r: f"device:{device.pk}", rate=rate, increment=True)
    return False
