"""The live monitor: the last hour and today against the same stretch a week before, the backlogs, the rebate lag
and the Celery queue's depth (or "unavailable"); platform operators only; the page refreshes itself from data.json."""

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from kombu import Connection

from accounts import roles
from packets.models import Packet, Redemption
from rebates.models import Rebate
from rebates.services import rebates_credit_for_redemption
from reports.operations import live_monitor
from tests.campaigns.test_rules_in_orders import buy
from tests.factories.accounts import MerchantStaffFactory, UserFactory
from tests.factories.campaigns import two_way_campaign

pytestmark = pytest.mark.django_db
PAGE = "/admin/reports/livemonitor/"


def _spend(merchant):
    """One order that earns a packet and one that spends it, its rebates credited: (packets, redemption)."""
    shopper = UserFactory()
    first = buy(merchant, shopper, ("fruit", "200.00"))
    spent = buy(merchant, shopper, ("fruit", "50.00"), code=first.earned_packets.get().code)
    rebates_credit_for_redemption(redemption_id=spent.redemption.pk)
    return list(Packet.objects.filter(source_order__in=[first, spent])), spent.redemption


def _move(packets, redemption, by: timedelta):
    Packet.objects.filter(pk__in=[p.pk for p in packets]).update(issued_at=timezone.now() - by)
    Redemption.objects.filter(pk=redemption.pk).update(used_at=timezone.now() - by)
    Rebate.objects.filter(redemption=redemption).update(confirmed_at=timezone.now() - by)


@pytest.fixture
def operator(client):
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=roles.PLATFORM_OPERATOR))
    client.force_login(user)
    client.cookies["django_language"] = "zh-hans"
    return user


def test_the_last_hour_is_set_against_the_same_hour_a_week_before():
    merchant = MerchantStaffFactory().merchant
    two_way_campaign(merchant=merchant, budget="5000.00")
    now_packets, now_redemption = _spend(merchant)
    old_packets, old_redemption = _spend(merchant)
    _move(old_packets, old_redemption, timedelta(days=7, minutes=10))
    legs = Rebate.objects.filter(redemption=now_redemption).count()

    figures = live_monitor()["windows"]["last_hour"]

    assert figures["current"]["packets_issued"] == str(len(now_packets))
    assert figures["current"]["packets_used"] == "1"
    assert figures["current"]["rebates_credited"] == str(legs)
    assert figures["week_before"]["packets_issued"] == str(len(old_packets))
    assert figures["week_before"]["packets_used"] == "1"
    assert figures["week_before"]["rebates_credited"] == str(Rebate.objects.filter(redemption=old_redemption).count())


def test_the_queue_depth_counts_the_messages_waiting(settings):
    settings.CELERY_TASK_DEFAULT_QUEUE = f"monitor-{uuid.uuid4().hex}"
    with Connection(settings.CELERY_BROKER_URL) as conn:
        queue = conn.SimpleQueue(settings.CELERY_TASK_DEFAULT_QUEUE)
        for n in range(3):
            queue.put({"n": n})
        try:
            assert live_monitor()["celery_queue_depth"] == 3
        finally:
            queue.clear()
            queue.close()


def test_an_unreachable_broker_is_shown_as_unavailable(client, operator, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"

    assert live_monitor()["celery_queue_depth"] is None
    reply = client.get(PAGE)
    assert reply.status_code == 200
    html = reply.content.decode()
    assert "不可用" in html.split('id="queue-depth"', 1)[1][:80]
    assert "实时监控" in html and "返利延迟" in html and "js/live-monitor.js" in html


def test_the_page_refreshes_from_its_json_and_merchant_staff_are_refused(client, operator):
    reply = client.get(PAGE + "data.json")
    assert reply.status_code == 200
    data = reply.json()
    assert set(data["windows"]) == {"last_hour", "today"}
    assert {"outbox_backlog", "payout_backlog", "rebate_lag", "celery_queue_depth"} <= set(data)
    page = client.get(PAGE).content.decode()
    assert 'data-figure="windows.today.week_before.packets_used"' in page

    staff = MerchantStaffFactory(user__is_staff=True)
    staff.user.groups.add(Group.objects.get(name=roles.MERCHANT_ADMIN))
    client.force_login(staff.user)
    assert client.get(PAGE).status_code == 403
    assert client.get(PAGE + "data.json").status_code == 403
