"""Usage spikes (docs/REPORTS.md, "Spikes and alerts"): each campaign's packets used in the last complete 10-minute
window against its baseline (the mean of the SPIKE_BASELINE_WINDOWS windows before it); beyond SPIKE_FACTOR × the
baseline (and at least SPIKE_MIN_USES uses) an Alert opens with the IPs, devices and accounts behind it, and
operators are told by email and by a signed webhook. Alerts are acknowledged, and a manager may pause the campaign
from one (through the campaign service, so the change is in the campaign's history)."""

import json
import logging
from datetime import datetime, timedelta
from decimal import Decimal

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from antifraud.models import EarningEvent
from campaigns.models import Campaign
from campaigns.services import campaign_change_status
from packets.models import Redemption
from rebates.webhooks.services import webhook_signature_header

from .models import Alert

WINDOW = timedelta(minutes=10)
TOP = 5
ALERT_EVENT = "operations.usage_spike"
logger = logging.getLogger(__name__)


def last_complete_window(now: datetime) -> tuple[datetime, datetime]:
    """The last 10-minute window (aligned on the clock) that has ended at `now`."""
    end = now.replace(minute=now.minute - now.minute % 10, second=0, microsecond=0)
    return end - WINDOW, end


def _top(events, field: str) -> list[dict]:
    rows = events.exclude(**{f"{field}__isnull": True}).values(field).annotate(n=Count("pk")).order_by("-n", field)
    return [{"value": str(r[field]), "count": r["n"]} for r in rows[:TOP]]


def _behind(campaign_id: int, start: datetime, end: datetime) -> dict:
    """Who spent the packets in the window, most first (the anti-fraud trail's redeem events)."""
    events = EarningEvent.objects.filter(
        campaign_id=campaign_id, kind=EarningEvent.Kind.REDEEM, at__gte=start, at__lt=end
    )
    return {
        "top_ips": _top(events, "ip"),
        "top_devices": _top(events, "device__fingerprint"),
        "top_accounts": _top(events, "user_id"),
    }


def spikes_detect(*, now: datetime | None = None) -> list[Alert]:
    """Open an alert for every campaign whose last complete window is a spike; a window already alerted is left as
    it is (one alert per campaign and window), so the beat may run this as often as it likes."""
    start, end = last_complete_window(now or timezone.now())
    windows = settings.SPIKE_BASELINE_WINDOWS
    baseline_start = start - WINDOW * windows
    factor = settings.SPIKE_FACTOR
    counts = (
        Redemption.objects.filter(used_at__gte=baseline_start, used_at__lt=end)
        .values("packet__campaign_id")
        .annotate(current=Count("pk", filter=Q(used_at__gte=start)), before=Count("pk", filter=Q(used_at__lt=start)))
    )
    opened = []
    for row in counts:
        baseline = (Decimal(row["before"]) / windows).quantize(Decimal("0.01"))
        if row["current"] < settings.SPIKE_MIN_USES or row["current"] <= factor * baseline:
            continue
        campaign_id = row["packet__campaign_id"]
        if Alert.objects.filter(campaign_id=campaign_id, window_start=start).exists():
            continue
        try:
            with transaction.atomic():
                alert = Alert.objects.create(
                    campaign_id=campaign_id,
                    window_start=start,
                    window_end=end,
                    used=row["current"],
                    baseline=baseline,
                    factor=factor,
                    **_behind(campaign_id, start, end),
                )
        except IntegrityError:  # a concurrent pass opened it first
            continue
        opened.append(alert)
    return opened


def _alert_payload(alert: Alert) -> dict:
    return {
        "type": ALERT_EVENT,
        "alert_id": alert.pk,
        "campaign_id": alert.campaign_id,
        "campaign": alert.campaign.name,
        "window_start": alert.window_start.isoformat(),
        "window_end": alert.window_end.isoformat(),
        "used": alert.used,
        "baseline": str(alert.baseline),
        "factor": str(alert.factor),
        "top_ips": alert.top_ips,
        "top_devices": alert.top_devices,
        "top_accounts": alert.top_accounts,
    }


def _alert_email(alert: Alert) -> tuple[str, str]:
    facts = {
        "campaign": alert.campaign.name,
        "used": alert.used,
        "baseline": alert.baseline,
        "start": timezone.localtime(alert.window_start).strftime("%Y-%m-%d %H:%M"),
        "end": timezone.localtime(alert.window_end).strftime("%H:%M"),
    }
    subject = _("Usage spike: %(campaign)s, %(used)s packets used in 10 minutes") % facts
    lines = [_("%(used)s packets used from %(start)s to %(end)s; the baseline is %(baseline)s per 10 minutes.") % facts]
    for label, rows in ((_("Top IPs"), alert.top_ips), (_("Top devices"), alert.top_devices)):
        lines.append(f"{label}: " + ", ".join(f"{r['value']} ({r['count']})" for r in rows))
    lines.append(_("Top accounts") + ": " + ", ".join(f"#{r['value']} ({r['count']})" for r in alert.top_accounts))
    return subject, "\n".join(lines)


def alert_notify(*, alert_id: int) -> bool:
    """Tell the operators once: an email to OPERATIONS_ALERT_EMAILS and a POST signed like the merchants' webhooks
    (X-Signature: t=…,v1=HMAC-SHA256 of "t.body" with OPERATIONS_ALERT_WEBHOOK_SECRET) to OPERATIONS_ALERT_WEBHOOK_URL.
    Either one left unset is skipped. A failure raises and leaves the alert to the next pass; notified_at marks it
    done."""
    with transaction.atomic():
        alert = Alert.objects.select_for_update().select_related("campaign").get(pk=alert_id)
        if alert.notified_at is not None:
            return False
        if settings.OPERATIONS_ALERT_EMAILS:
            subject, body = _alert_email(alert)
            send_mail(subject, body, None, settings.OPERATIONS_ALERT_EMAILS)
        if settings.OPERATIONS_ALERT_WEBHOOK_URL:
            body = json.dumps(_alert_payload(alert), sort_keys=True).encode()
            reply = requests.post(
                settings.OPERATIONS_ALERT_WEBHOOK_URL,
                data=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Event-Type": ALERT_EVENT,
                    "X-Signature": webhook_signature_header(settings.OPERATIONS_ALERT_WEBHOOK_SECRET, body),
                },
                timeout=settings.WEBHOOKS_TIMEOUT_SECONDS,
            )
            reply.raise_for_status()
        alert.notified_at = timezone.now()
        alert.save(update_fields=["notified_at"])
        return True


def alert_acknowledge(*, alert: Alert, user) -> Alert:
    with transaction.atomic():
        alert = Alert.objects.select_for_update().get(pk=alert.pk)
        if alert.status == Alert.Status.OPEN:
            alert.status = Alert.Status.ACKNOWLEDGED
            alert.acknowledged_by = user
            alert.acknowledged_at = timezone.now()
            alert.save(update_fields=["status", "acknowledged_by", "acknowledged_at"])
        return alert


def alert_pause_campaign(*, alert: Alert, user) -> Campaign:
    """Pause the alert's campaign (if it runs) through the campaign service, and acknowledge the alert."""
    with transaction.atomic():
        campaign = alert.campaign
        if campaign.status == Campaign.Status.ACTIVE:
            reason = _("Paused from usage alert #%(id)s") % {"id": alert.pk}
            campaign = campaign_change_status(
                user=user, campaign=campaign, status=Campaign.Status.PAUSED, reason=reason
            )
        alert_acknowledge(alert=alert, user=user)
        return campaign


def alerts_notify_pending() -> int:
    """Notify every alert not yet notified (a failed notification is tried again on the next pass)."""
    sent = 0
    for alert_id in Alert.objects.filter(notified_at__isnull=True).order_by("pk").values_list("pk", flat=True):
        try:
            sent += alert_notify(alert_id=alert_id)
        except (OSError, requests.RequestException):  # SMTP or webhook unreachable: the next pass retries
            logger.warning("usage alert %s: notification failed, retried on the next pass", alert_id, exc_info=True)
    return sent
