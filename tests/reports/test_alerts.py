"""Usage spikes: a campaign's packets used in a 10-minute window against its baseline; a spike opens one alert with
the IPs, devices and accounts behind it, reaches a real SMTP server and a webhook receiver (signed), can be
acknowledged, and a manager pauses the campaign from it."""

import json
import socket
import threading
from datetime import timedelta
from decimal import Decimal
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from django.contrib.auth.models import Group
from django.utils import timezone

from accounts import roles
from accounts.models import MerchantStaff
from antifraud.models import RiskPolicy
from campaigns.models import Campaign
from rebates.webhooks.services import webhook_signature_verify
from reports.alerts import alerts_notify_pending, last_complete_window, spikes_detect
from reports.models import Alert
from tests.campaigns.test_rules_in_orders import buy
from tests.factories.accounts import MerchantStaffFactory, UserFactory
from tests.factories.campaigns import two_way_campaign

pytestmark = pytest.mark.django_db
SECRET = "ops-secret"


def _spend(campaign, when, *, ip: str, device: str):
    shopper = UserFactory()
    earned = buy(campaign.merchant, shopper, ("fruit", "200.00"), now=when - timedelta(hours=6))
    buy(
        campaign.merchant,
        shopper,
        ("fruit", "50.00"),
        code=earned.earned_packets.get(campaign=campaign).code,
        now=when,
        ip=ip,
        device_fingerprint=device,
    )
    return shopper


def _campaign():
    """A campaign whose anti-fraud limits let one IP spend many packets: the spike is what we are looking for."""
    campaign = two_way_campaign(merchant=MerchantStaffFactory().merchant, budget="5000.00")
    RiskPolicy.objects.update_or_create(
        campaign=campaign,
        defaults={
            "ip_daily_limit": 0,
            "device_daily_limit": 0,
            "min_interval_minutes": 0,
            "review_score": 100,
            "block_score": 100,
        },
    )
    return campaign


@pytest.fixture
def moment(settings):
    settings.SPIKE_MIN_USES = 3
    settings.SPIKE_FACTOR = Decimal("3")
    settings.SPIKE_BASELINE_WINDOWS = 12
    now = timezone.now() - timedelta(hours=1)
    start, end = last_complete_window(now)
    return now, start, end


def test_a_spike_opens_one_alert_with_who_was_behind_it(moment):
    now, start, end = moment
    campaign = _campaign()
    _spend(campaign, start - timedelta(minutes=45), ip="10.0.0.9", device="dev-old")  # the baseline: 1 use in 2 h
    shoppers = [
        _spend(campaign, start + timedelta(minutes=m), ip=ip, device=dev)
        for m, ip, dev in ((1, "10.0.0.1", "dev-a"), (2, "10.0.0.1", "dev-a"), (3, "10.0.0.2", "dev-b"))
    ]

    opened = spikes_detect(now=now)

    assert len(opened) == 1
    alert = opened[0]
    assert (alert.campaign_id, alert.window_start, alert.window_end) == (campaign.pk, start, end)
    assert alert.used == 3 and alert.baseline == Decimal("0.08")
    assert alert.top_ips == [{"value": "10.0.0.1", "count": 2}, {"value": "10.0.0.2", "count": 1}]
    assert alert.top_devices == [{"value": "dev-a", "count": 2}, {"value": "dev-b", "count": 1}]
    assert sorted(r["value"] for r in alert.top_accounts) == sorted(str(s.pk) for s in shoppers)
    assert spikes_detect(now=now) == [] and Alert.objects.count() == 1  # the same window again: no second alert


def test_usage_within_its_baseline_is_no_spike(moment):
    now, start, _ = moment
    campaign = _campaign()
    for window in range(1, 13):  # one use in each of the 12 windows before: baseline 1.00
        _spend(campaign, start - timedelta(minutes=10 * window - 5), ip=f"10.1.0.{window}", device=f"d{window}")
    for minute in (1, 2, 3):  # 3 uses: not beyond 3 × 1.00
        _spend(campaign, start + timedelta(minutes=minute), ip=f"10.2.0.{minute}", device=f"e{minute}")

    assert spikes_detect(now=now) == []


class _Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(settings):
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.OPERATIONS_ALERT_EMAILS = ["ops@example.com"]
    yield inbox
    controller.stop()


@pytest.fixture
def receiver(settings):
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.OPERATIONS_ALERT_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/alerts"
    settings.OPERATIONS_ALERT_WEBHOOK_SECRET = SECRET
    yield received
    server.shutdown()
    server.server_close()


def test_an_injected_spike_reaches_the_smtp_server_and_the_webhook_once(moment, smtp, receiver):
    now, start, _ = moment
    campaign = _campaign()
    for minute in (1, 2, 3, 4):
        _spend(campaign, start + timedelta(minutes=minute), ip="10.9.9.9", device=f"spike-{minute}")
    [alert] = spikes_detect(now=now)

    assert alerts_notify_pending() == 1
    assert alerts_notify_pending() == 0  # told once

    [message] = smtp.messages
    assert message.rcpt_tos == ["ops@example.com"]
    email = message_from_bytes(message.content, policy=policy.default)
    assert campaign.name in email["Subject"] and "10.9.9.9 (4)" in email.get_content()
    [(headers, body)] = receiver
    assert webhook_signature_verify(secret=SECRET, header=headers["X-Signature"], body=body)
    payload = json.loads(body)
    assert payload["type"] == "operations.usage_spike"
    assert (payload["alert_id"], payload["campaign_id"], payload["used"]) == (alert.pk, campaign.pk, 4)
    assert payload["top_ips"] == [{"value": "10.9.9.9", "count": 4}]
    alert.refresh_from_db()
    assert alert.notified_at is not None


def test_a_webhook_that_is_down_leaves_the_alert_for_the_next_pass(moment, settings):
    now, start, _ = moment
    campaign = _campaign()
    for minute in (1, 2, 3):
        _spend(campaign, start + timedelta(minutes=minute), ip="10.8.8.8", device=f"x-{minute}")
    spikes_detect(now=now)
    settings.OPERATIONS_ALERT_EMAILS = []
    settings.OPERATIONS_ALERT_WEBHOOK_URL = f"http://127.0.0.1:{_free_port()}/closed"

    assert alerts_notify_pending() == 0
    assert Alert.objects.get().notified_at is None


def _manager(client, merchant):
    staff = MerchantStaffFactory(merchant=merchant, role=MerchantStaff.Role.CAMPAIGN_MANAGER, user__is_staff=True)
    staff.user.groups.add(Group.objects.get(name=roles.CAMPAIGN_MANAGER))
    client.force_login(staff.user)
    client.cookies["django_language"] = "zh-hans"
    return staff.user


def test_a_manager_acknowledges_and_pauses_the_campaign_from_the_alert(client, moment):
    now, start, _ = moment
    campaign = _campaign()
    for minute in (1, 2, 3):
        _spend(campaign, start + timedelta(minutes=minute), ip="10.7.7.7", device=f"y-{minute}")
    [alert] = spikes_detect(now=now)
    other = Alert.objects.create(
        campaign=two_way_campaign(merchant=MerchantStaffFactory().merchant),
        window_start=start,
        window_end=start + timedelta(minutes=10),
        used=9,
        baseline=Decimal("0"),
        factor=Decimal("3"),
    )
    manager = _manager(client, campaign.merchant)

    listing = client.get("/admin/reports/alert/")
    assert listing.status_code == 200
    assert list(listing.context["cl"].queryset) == [alert]  # not the other merchant's alert
    page = client.get(f"/admin/reports/alert/{alert.pk}/change/")
    assert page.status_code == 200 and "10.7.7.7 (3)" in page.content.decode()
    assert client.get(f"/admin/reports/alert/{other.pk}/change/").status_code in (302, 404)

    reply = client.post("/admin/reports/alert/", {"action": "pause_campaign", "_selected_action": [alert.pk, other.pk]})

    assert reply.status_code == 302
    campaign.refresh_from_db()
    alert.refresh_from_db()
    other.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert (alert.status, alert.acknowledged_by) == (Alert.Status.ACKNOWLEDGED, manager)
    assert other.status == Alert.Status.OPEN and other.campaign.status == Campaign.Status.ACTIVE
