"""Webhooks: merchants hear about their rebates and payouts (docs/WEBHOOKS.md).

Outbox style, like `rebates/outbox.py`: the business service calls `webhooks_emit_*` inside its own transaction, which
writes one `WebhookDelivery` row per subscribed endpoint (unique per endpoint and event id, so emitting twice writes
nothing new) and publishes the delivery task after the commit. The row, not the broker message, is the promise: the
beat sweep publishes every pending delivery that is overdue (lost publish, worker died, a long back-off).

A delivery is POSTed with `X-Rebate-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` until the receiver
answers 2xx; otherwise it is retried with exponential back-off, and after WEBHOOKS_MAX_ATTEMPTS it is `failed` (shown to
operators and merchants; "retry now" sends it again, same event id and body).
"""

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from common.errors import ApplicationError, NotFound

from .models import EventType, WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Rebate-Signature"
EVENT_ID_HEADER = "X-Rebate-Event-Id"
EVENT_TYPE_HEADER = "X-Rebate-Event"
# A receiver should refuse a signature older than this (replays); `webhook_signature_verify` does.
SIGNATURE_TOLERANCE_SECONDS = 300
# Event ids are derived from the business event, so the same event always has the same id (receivers dedupe on it).
EVENT_NAMESPACE = uuid.UUID("6f1c8a52-3d0e-4b8f-9a51-2b7c0e4d9f13")
# While one worker POSTs, others leave the delivery alone for this long past the HTTP timeout.
LEASE_EXTRA_SECONDS = 30
# The task schedules its own retry only for short back-offs; longer ones (and lost publishes) are the sweep's.
COUNTDOWN_MAX_SECONDS = 300
SWEEP_GRACE_SECONDS = 30
RESPONSE_SNIPPET_BYTES = 500
USER_AGENT = "redpacket-rebates-webhooks/1"

_PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


# --- signatures ------------------------------------------------------------------------------------------------


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of "<timestamp>.<body>" with the endpoint's secret."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def webhook_signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    stamp = int(time.time()) if timestamp is None else timestamp
    return f"t={stamp},v1={webhook_signature(secret, stamp, body)}"


def webhook_signature_verify(
    *, secret: str, header: str, body: bytes, tolerance: int = SIGNATURE_TOLERANCE_SECONDS, now: float | None = None
) -> bool:
    """What a receiver does: the header's v1 must be the HMAC of "t.body", and t recent (a captured request cannot be
    replayed later). Kept here as the reference implementation (docs/WEBHOOKS.md has the same in a few lines)."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        stamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - stamp) > tolerance:
        return False
    expected = webhook_signature(secret, stamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", []))


# --- endpoints -------------------------------------------------------------------------------------------------


def _address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def webhook_url_check(url: str) -> None:
    """http(s) only; the host must resolve, and only to public addresses — unless WEBHOOKS_ALLOW_PRIVATE_HOSTS (local
    runs and tests), so a webhook cannot be pointed at the platform's own network (SSRF). Checked at registration and
    again before every attempt (DNS can change)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ApplicationError(_("Not a valid URL: %(exc)s.") % {"exc": exc}, code="invalid_webhook_url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApplicationError(_("The URL must be http:// or https:// with a host."), code="invalid_webhook_url")
    if parts.username or parts.password:
        raise ApplicationError(_("The URL must not carry a user name or password."), code="invalid_webhook_url")
    if settings.WEBHOOKS_ALLOW_PRIVATE_HOSTS:
        return
    host = parts.hostname
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)}
    except (OSError, UnicodeError):
        raise ApplicationError(
            _("The host %(host)s does not resolve.") % {"host": repr(host)}, code="invalid_webhook_url"
        ) from None
    if not addresses or not all(_address_is_public(a) for a in addresses):
        raise ApplicationError(
            _("The host %(host)s is a private, loopback or reserved address; webhooks go to public hosts only.")
            % {"host": repr(host)},
            code="private_webhook_host",
        )


def _check_events(events) -> list[str]:
    events = list(dict.fromkeys(events or []))
    unknown = [e for e in events if e not in EventType.values]
    if unknown or not events:
        raise ApplicationError(
            _("Choose at least one event type.")
            if not events
            else _("Unknown event types: %(types)s.") % {"types": ", ".join(unknown)},
            code="invalid_events",
            details={"allowed": list(EventType.values)},
        )
    return events


@transaction.atomic
def webhook_endpoint_create(*, merchant, url: str, events, description: str = "", active: bool = True):
    """Register an endpoint (merchant None = a platform endpoint). Its secret is generated here."""
    webhook_url_check(url)
    return WebhookEndpoint.objects.create(
        merchant=merchant,
        url=url,
        events=_check_events(events),
        description=description,
        active=active,
        secret=new_secret(),
    )


@transaction.atomic
def webhook_endpoint_update(*, endpoint: WebhookEndpoint, **changes) -> WebhookEndpoint:
    """Change url, events, description or active. Switching an endpoint off leaves its pending deliveries pending;
    they fail at their next attempt unless it is switched on again first."""
    allowed = {"url", "events", "description", "active"}
    if set(changes) - allowed:
        raise ValueError(f"cannot change {sorted(set(changes) - allowed)}")
    if "url" in changes:
        webhook_url_check(changes["url"])
    if "events" in changes:
        changes["events"] = _check_events(changes["events"])
    for name, value in changes.items():
        setattr(endpoint, name, value)
    endpoint.save(update_fields=[*changes, "updated_at"])
    return endpoint


@transaction.atomic
def webhook_endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new secret, effective for every attempt from now on (also for deliveries still pending)."""
    endpoint.secret = new_secret()
    endpoint.save(update_fields=["secret", "updated_at"])
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Deletes the endpoint and its delivery log."""
    endpoint.delete()


# --- emitting (called inside the business event's transaction) ------------------------------------------------


def event_id_for(event_type: str, key: str) -> uuid.UUID:
    return uuid.uuid5(EVENT_NAMESPACE, f"{event_type}:{key}")


def _subscribed(event_type: str, merchant_ids) -> list[WebhookEndpoint]:
    """Active endpoints for this event: the merchants' own, and every platform endpoint."""
    return list(
        WebhookEndpoint.objects.filter(active=True, events__contains=[event_type]).filter(
            Q(merchant__isnull=True) | Q(merchant_id__in=[m for m in merchant_ids if m])
        )
    )


def _anyone_listens(event_type: str) -> bool:
    """One indexed query, so the business paths pay (almost) nothing while nobody subscribes."""
    return WebhookEndpoint.objects.filter(active=True, events__contains=[event_type]).exists()


def _json_default(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def webhook_emit(*, event_type: str, key: str, merchant_ids, data: dict) -> list[int]:
    """Write the deliveries of one event (once per endpoint, whatever the number of calls) and publish them after
    the commit. `key` names the business event (e.g. "rebate:42:credited"); the event id is derived from it."""
    endpoints = _subscribed(event_type, merchant_ids)
    if not endpoints:
        return []
    event_id = event_id_for(event_type, key)
    body = json.dumps(
        {"id": f"evt_{event_id.hex}", "type": event_type, "created": int(time.time()), "data": data},
        ensure_ascii=False,
        separators=(",", ":"),
        default=_json_default,
    )
    now = timezone.now()
    WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(endpoint=e, event_id=event_id, event_type=event_type, body=body, next_attempt_at=now)
            for e in endpoints
        ],
        ignore_conflicts=True,  # the same event again (a replayed service call): the first rows stand
    )
    ids = list(
        WebhookDelivery.objects.filter(
            event_id=event_id, endpoint__in=endpoints, state=WebhookDelivery.State.PENDING, attempts=0
        ).values_list("pk", flat=True)
    )
    for pk in ids:
        transaction.on_commit(lambda pk=pk: webhook_publish(pk))
    return ids


def _money(value: Decimal, currency: str) -> str:
    return str(int(value)) if currency == "POINTS" else f"{value:.2f}"


def _rebate_data(rebate) -> dict:
    redemption = rebate.redemption
    packet = redemption.packet
    return {
        "id": rebate.pk,
        "order_id": redemption.order_id,
        "order_no": redemption.order_no,
        "campaign_id": packet.campaign_id,
        "packet_id": packet.pk,
        "role": rebate.role,
        "form": rebate.form,
        "amount": _money(rebate.amount, rebate.currency),
        "currency": rebate.currency,
        "reversed_amount": _money(rebate.reversed_amount, rebate.currency),
        "status": rebate.status,
        "beneficiary": (
            {"type": "merchant", "id": rebate.beneficiary_merchant_id}
            if rebate.beneficiary_merchant_id
            else {"type": "user", "id": rebate.beneficiary_user_id}
        ),
        "hold_until": rebate.hold_until,
        "confirmed_at": rebate.confirmed_at,
        "created_at": rebate.created_at,
    }


def _rebate_merchants(rebate) -> set[int]:
    """Whose rebate it is: the campaign's owner, the merchant whose order earned it, the packet's issuer, and the
    beneficiary merchant."""
    packet = rebate.redemption.packet
    return {
        packet.campaign.merchant_id,
        rebate.redemption.order.merchant_id,
        packet.issuer_merchant_id,
        rebate.beneficiary_merchant_id,
    } - {None}


def _rebates_loaded(rebate_ids):
    from ..models import Rebate

    return Rebate.objects.select_related("redemption__packet__campaign", "redemption__order").filter(
        pk__in=list(rebate_ids)
    )


def webhooks_emit_rebates_credited(rebate_ids) -> int:
    """`rebate.credited` for each of these rebates that is credited now (a held one is, when its hold ends)."""
    if not _anyone_listens(EventType.REBATE_CREDITED):
        return 0
    emitted = 0
    for rebate in _rebates_loaded(rebate_ids).filter(status="credited").order_by("pk"):
        emitted += bool(
            webhook_emit(
                event_type=EventType.REBATE_CREDITED,
                key=f"rebate:{rebate.pk}:credited",
                merchant_ids=_rebate_merchants(rebate),
                data={"rebate": _rebate_data(rebate)},
            )
        )
    return emitted


def webhooks_emit_rebate_reversed(*, rebate_id: int, amount: Decimal, reason: str) -> int:
    """`rebate.reversed` for one reversal (a refund's share of a rebate; the whole rebate when status says so).
    `reason` is the reversal's own key (e.g. "refund:7"), so each reversal is one event."""
    if not _anyone_listens(EventType.REBATE_REVERSED):
        return 0
    rebate = _rebates_loaded([rebate_id]).get()
    return len(
        webhook_emit(
            event_type=EventType.REBATE_REVERSED,
            key=f"rebate:{rebate.pk}:reverse:{reason}",
            merchant_ids=_rebate_merchants(rebate),
            data={
                "rebate": _rebate_data(rebate),
                "reversal": {"amount": _money(amount, rebate.currency), "reason": reason},
            },
        )
    )


def _payout_merchants(payout) -> set[int]:
    """Merchants whose campaigns credited cash rebates to the payout's beneficiary (the wallet is one pot, so each of
    them hears about the withdrawal)."""
    from ..models import Rebate

    return set(
        Rebate.objects.filter(beneficiary_user_id=payout.beneficiary_id, form="cash", currency="CNY")
        .exclude(redemption__packet__campaign__merchant__isnull=True)
        .values_list("redemption__packet__campaign__merchant_id", flat=True)
        .distinct()
    )


def webhooks_emit_payout_finished(payout) -> int:
    """`payout.succeeded` / `payout.failed`, once, when a payout reaches its final status."""
    event_type = {"succeeded": EventType.PAYOUT_SUCCEEDED, "failed": EventType.PAYOUT_FAILED}.get(payout.status)
    if event_type is None or not _anyone_listens(event_type):
        return 0
    return len(
        webhook_emit(
            event_type=event_type,
            key=f"payout:{payout.pk}:{payout.status}",
            merchant_ids=_payout_merchants(payout),
            data={
                "payout": {
                    "id": payout.pk,
                    "beneficiary_user_id": payout.beneficiary_id,
                    "amount": f"{payout.amount:.2f}",
                    "currency": "CNY",
                    "channel": payout.channel,
                    "status": payout.status,
                    "out_bill_no": payout.out_bill_no,
                    "fail_reason": payout.fail_reason,
                    "created_at": payout.created_at,
                    "completed_at": payout.completed_at,
                }
            },
        )
    )


# --- delivering ------------------------------------------------------------------------------------------------


def webhook_publish(delivery_id: int, countdown: float = 0) -> bool:
    """Publish the delivery task. A lost publish is harmless: the sweep publishes overdue deliveries."""
    from .tasks import webhook_deliver

    try:
        webhook_deliver.apply_async(
            args=[delivery_id],
            countdown=countdown,
            queue=settings.CELERY_TASK_DEFAULT_QUEUE,
            retry=True,
            retry_policy=_PUBLISH_RETRY,
        )
        return True
    except Exception:
        log.warning("publishing webhook delivery %s failed; the sweep will retry", delivery_id, exc_info=True)
        return False


def backoff_seconds(attempts: int) -> float:
    """Exponential: base, 2·base, 4·base… capped."""
    base, cap = settings.WEBHOOKS_RETRY_BASE_SECONDS, settings.WEBHOOKS_RETRY_MAX_SECONDS
    return float(min(cap, base * 2 ** max(0, attempts - 1)))


def _begin(delivery_id: int, now) -> tuple[WebhookDelivery | None, int]:
    """Under the row lock: take a due pending delivery for one attempt (a lease). (None, 0) when it is not ours."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("endpoint")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.state != WebhookDelivery.State.PENDING:
            return None, 0
        if delivery.next_attempt_at is None or delivery.next_attempt_at > now + timedelta(seconds=1):
            return None, 0  # another worker holds the lease, or the retry is not due yet
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.next_attempt_at = now + timedelta(seconds=settings.WEBHOOKS_TIMEOUT_SECONDS + LEASE_EXTRA_SECONDS)
        delivery.save(update_fields=["attempts", "last_attempt_at", "next_attempt_at"])
        return delivery, delivery.attempts


def _post(delivery: WebhookDelivery) -> tuple[int | None, str]:
    """(HTTP status or None, error text). Redirects are not followed (a redirect could lead anywhere)."""
    endpoint = delivery.endpoint
    try:
        webhook_url_check(endpoint.url)
    except ApplicationError as exc:
        return None, f"refused: {exc.message}"
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: webhook_signature_header(endpoint.secret, body),
        EVENT_ID_HEADER: f"evt_{delivery.event_id.hex}",
        EVENT_TYPE_HEADER: delivery.event_type,
    }
    try:
        with requests.post(
            endpoint.url,
            data=body,
            headers=headers,
            timeout=settings.WEBHOOKS_TIMEOUT_SECONDS,
            allow_redirects=False,
            stream=True,
        ) as response:
            if 200 <= response.status_code < 300:
                return response.status_code, ""
            snippet = next(response.iter_content(RESPONSE_SNIPPET_BYTES), b"").decode(errors="replace")
            return response.status_code, f"HTTP {response.status_code}: {snippet}".strip()
    except requests.Timeout as exc:
        return None, f"timeout: {exc}"
    except requests.RequestException as exc:
        return None, f"connection error: {exc}"


def webhook_attempt(*, delivery_id: int) -> float | None:
    """One POST of a due delivery. Returns the seconds until its next attempt, or None when nothing more is due
    (delivered, given up, not due, or not found)."""
    delivery, attempt = _begin(delivery_id, timezone.now())
    if delivery is None:
        return None
    if not delivery.endpoint.active:
        status, error = None, "the endpoint is switched off"
        final = True
    else:
        try:
            status, error = _post(delivery)
        except Exception as exc:  # a bug must not leave the lease in place forever: record it, retry later
            log.exception("webhook delivery %s failed", delivery_id)
            status, error = None, f"{type(exc).__name__}: {exc}"
        final = False
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None or delivery.state != WebhookDelivery.State.PENDING or delivery.attempts != attempt:
            return None  # deleted with its endpoint, or replayed meanwhile by an operator: their attempt decides
        delivery.last_status_code = status
        now = timezone.now()
        delay = None
        if status is not None and 200 <= status < 300:
            delivery.state = WebhookDelivery.State.SUCCEEDED
            delivery.delivered_at = now
            delivery.last_error = ""
            delivery.next_attempt_at = None
        elif final or delivery.attempts >= settings.WEBHOOKS_MAX_ATTEMPTS:
            delivery.state = WebhookDelivery.State.FAILED
            delivery.next_attempt_at = None
            delivery.last_error = f"gave up after {delivery.attempts} attempts: {error}"[:2000]
            log.warning("webhook delivery %s: %s", delivery.pk, delivery.last_error)
        else:
            delay = backoff_seconds(delivery.attempts)
            delivery.next_attempt_at = now + timedelta(seconds=delay)
            delivery.last_error = error[:2000]
        delivery.save(update_fields=["state", "delivered_at", "last_status_code", "last_error", "next_attempt_at"])
        return delay


def webhook_deliveries_retry(*, delivery_ids) -> list[int]:
    """Operators and merchants: send these deliveries again now, with a fresh budget of attempts — failed ones,
    pending ones (skip the wait) and delivered ones (a replay). Same event id, same body. Returns the ids queued."""
    queued = []
    with transaction.atomic():
        for delivery in WebhookDelivery.objects.filter(pk__in=list(delivery_ids)).order_by("pk").select_for_update():
            delivery.state = WebhookDelivery.State.PENDING
            delivery.attempts = 0
            delivery.next_attempt_at = timezone.now()
            delivery.delivered_at = None
            delivery.save(update_fields=["state", "attempts", "next_attempt_at", "delivered_at"])
            queued.append(delivery.pk)
        for pk in queued:
            transaction.on_commit(lambda pk=pk: webhook_publish(pk))
    return queued


def webhook_delivery_of(*, merchant, delivery_id: int) -> WebhookDelivery:
    delivery = WebhookDelivery.objects.filter(pk=delivery_id, endpoint__merchant=merchant).first()
    if delivery is None:
        raise NotFound(_("No such webhook delivery."), code="webhook_delivery_not_found")
    return delivery


def webhooks_due(*, grace_seconds: float = SWEEP_GRACE_SECONDS, limit: int = 500) -> list[int]:
    cutoff = timezone.now() - timedelta(seconds=grace_seconds)
    return list(
        WebhookDelivery.objects.filter(state=WebhookDelivery.State.PENDING, next_attempt_at__lte=cutoff)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def webhooks_sweep() -> int:
    """Beat: publish every pending delivery that is overdue. Returns how many were published."""
    return sum(webhook_publish(pk) for pk in webhooks_due())
