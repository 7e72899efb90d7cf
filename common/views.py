import sys
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.selectors import merchant_of
from common.failures import exception_reply, failure_reply
from common.money import format_cny
from config.celery import app as celery_app


def home(request):
    """The home dashboard: running campaigns with their organisers and rules; for a signed-in shopper also the
    wallet summary and the packets that expire within three days."""
    now = timezone.now()
    context = {"campaigns": _live_campaigns(now)}
    user = request.user
    if user.is_authenticated and merchant_of(user) is None:
        context.update(_shopper_summary(user, now))
    return render(request, "home.html", context)


def _live_campaigns(now, limit: int = 6):
    from campaigns.models import Campaign

    return list(
        Campaign.objects.filter(status=Campaign.Status.ACTIVE, starts_at__lte=now, ends_at__gt=now)
        .select_related("merchant")
        .order_by("ends_at", "pk")[:limit]
    )


EXPIRING_WITHIN = timedelta(days=3)


def _shopper_summary(user, now) -> dict:
    from packets import store
    from packets.models import Packet
    from rebates.models import AccountKind, LedgerAccount

    kinds = {
        AccountKind.SHOPPER_CASH: "cash",
        AccountKind.SHOPPER_POINTS: "points",
        AccountKind.SHOPPER_CASH_PENDING: "cash_pending",
        AccountKind.SHOPPER_POINTS_PENDING: "points_pending",
    }
    balances = dict.fromkeys(kinds.values(), Decimal("0.00"))
    for kind, balance in LedgerAccount.objects.filter(user=user, kind__in=list(kinds)).values_list(
        "kind", "stored_balance"
    ):
        balances[kinds[kind]] += balance
    expiring = (
        Packet.objects.filter(
            holder=user, status=Packet.Status.ISSUED, expires_at__gt=now, expires_at__lte=now + EXPIRING_WITHIN
        )
        .select_related("campaign")
        .order_by("expires_at", "pk")
    )
    return {
        "wallet": {
            "cash": format_cny(balances["cash"]),
            "points": store.points_text(balances["points"]),
            "pending_cash": format_cny(balances["cash_pending"]),
            "pending_points": store.points_text(balances["points_pending"]) if balances["points_pending"] else "",
            "computing": store.pending_redemptions(user).count(),
        },
        "expiring": [store.PacketView(p, now) for p in expiring[:6]],
        "valid_packets": Packet.objects.filter(holder=user, status=Packet.Status.ISSUED, expires_at__gt=now).count(),
    }


def healthz(request):
    """Database and broker reachability; 503 when either is down so a load balancer takes us out."""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # any failure means unhealthy
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        # The URL is read from settings on every call (not the Celery app's cached conf) so tests can override it.
        with celery_app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0.5, timeout=2)
        checks["broker"] = "ok"
    except Exception as exc:
        checks["broker"] = f"error: {exc.__class__.__name__}"
    healthy = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if healthy else "unhealthy", "checks": checks}, status=200 if healthy else 503)


def page_not_found(request, exception):
    """handler404: JSON `not_found` under /api/, the branded page elsewhere."""
    return failure_reply(request, 404)


def server_error(request):
    """handler500, called inside Django's `except` for an exception nothing else handled (a middleware's, or a view's
    the DRF exception handler left alone): 503 + Retry-After when the database or broker is unavailable, else 500.
    Renders without the database, the session or the user."""
    return exception_reply(request, sys.exc_info()[1])
