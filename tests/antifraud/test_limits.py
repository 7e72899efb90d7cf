"""Limits on the earning paths: per IP, device and account per campaign and day, the minimum interval, exact under
concurrency, with the client IP taken only behind the trusted proxies."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import Device
from antifraud.errors import EarningLimitReached
from antifraud.limits import EARN, REDEEM, EarnContext, earning_limits_count
from antifraud.models import EarningEvent, RiskPolicy
from common.checks import require_shared_cache
from packets import batch as batches
from packets.models import Order, Packet
from rebates.services import rebates_credit_for_redemption
from tests.conftest import race
from tests.factories.accounts import DeviceFactory, UserFactory
from tests.factories.campaigns import two_way_campaign
from tests.packets.helpers import order_body, post_order

pytestmark = pytest.mark.django_db


def _policy(campaign, **fields) -> RiskPolicy:
    return RiskPolicy.objects.create(campaign=campaign, **fields)


def _count(campaign, user, *, ip=None, device=None, path=EARN, now=None):
    earning_limits_count(
        campaign_id=campaign.pk,
        user_id=user.pk,
        context=EarnContext(ip=ip, device=device),
        path=path,
        now=now or timezone.now(),
    )


def test_the_sixth_packet_from_one_ip_in_a_day_is_refused_by_default():
    campaign = two_way_campaign()
    _policy(campaign, min_interval_minutes=0)  # the daily limit alone (default 5 per IP)
    start = timezone.now()
    for minute in range(5):
        _count(campaign, UserFactory(), ip="198.51.100.7", now=start + timedelta(minutes=minute))

    with pytest.raises(EarningLimitReached) as refused:
        _count(campaign, UserFactory(), ip="198.51.100.7", now=start + timedelta(minutes=6))

    assert refused.value.code == "ip_daily_limit" and refused.value.status_code == 429
    assert refused.value.details == {"scope": "ip", "limit": 5, "path": "earn"}
    _count(campaign, UserFactory(), ip="198.51.100.8", now=start + timedelta(minutes=6))  # another IP still earns


def test_two_packets_from_one_ip_less_than_ten_minutes_apart_are_refused_by_default():
    campaign = two_way_campaign()
    start = timezone.now()
    _count(campaign, UserFactory(), ip="198.51.100.7", now=start)

    with pytest.raises(EarningLimitReached) as refused:
        _count(campaign, UserFactory(), ip="198.51.100.7", now=start + timedelta(minutes=9, seconds=59))

    assert refused.value.code == "ip_too_soon"
    assert 0 < refused.value.details["retry_after_seconds"] <= 2
    _count(campaign, UserFactory(), ip="198.51.100.7", now=start + timedelta(minutes=10))


def test_the_device_limit_counts_whichever_ip_the_device_uses():
    campaign = two_way_campaign()
    _policy(campaign, min_interval_minutes=0, device_daily_limit=2)
    device = DeviceFactory()
    _count(campaign, UserFactory(), ip="198.51.100.1", device=device)
    _count(campaign, UserFactory(), ip="198.51.100.2", device=device)

    with pytest.raises(EarningLimitReached) as refused:
        _count(campaign, UserFactory(), ip="198.51.100.3", device=device)

    assert refused.value.code == "device_daily_limit"


def test_the_account_limit_is_off_by_default():
    campaign = two_way_campaign()
    user = UserFactory()
    for _ in range(7):
        _count(campaign, user)  # no IP, no device, no account limit: nothing limits


def test_the_account_limit_counts_when_set():
    campaign = two_way_campaign()
    _policy(campaign, account_daily_limit=3)
    user = UserFactory()
    for _ in range(3):
        _count(campaign, user)

    with pytest.raises(EarningLimitReached) as refused:
        _count(campaign, user)
    assert refused.value.code == "account_daily_limit"


def test_counts_start_again_the_next_day():
    campaign = two_way_campaign()
    _policy(campaign, min_interval_minutes=0, ip_daily_limit=1)
    today = timezone.now()
    _count(campaign, UserFactory(), ip="198.51.100.7", now=today)
    with pytest.raises(EarningLimitReached):
        _count(campaign, UserFactory(), ip="198.51.100.7", now=today + timedelta(minutes=1))

    _count(campaign, UserFactory(), ip="198.51.100.7", now=today + timedelta(days=1))


def test_limits_count_per_campaign_and_per_path():
    first, second = two_way_campaign(), two_way_campaign()
    now = timezone.now()
    _count(first, UserFactory(), ip="198.51.100.7", now=now)

    _count(second, UserFactory(), ip="198.51.100.7", now=now + timedelta(seconds=1))
    _count(first, UserFactory(), ip="198.51.100.7", path=REDEEM, now=now + timedelta(seconds=1))


def test_a_banned_device_earns_nothing():
    campaign = two_way_campaign()
    device = DeviceFactory(is_banned=True)

    with pytest.raises(EarningLimitReached) as refused:
        _count(campaign, UserFactory(), device=device)

    assert refused.value.code == "device_banned" and refused.value.status_code == 403


# --- through the earning paths ------------------------------------------------------------------------------------


def test_an_order_past_the_ip_limit_succeeds_but_earns_no_packet(merchant_client):
    campaign = two_way_campaign(merchant=merchant_client.merchant)
    _policy(campaign, min_interval_minutes=0, ip_daily_limit=1)
    first = post_order(merchant_client, order_body(UserFactory(), "200.00", ip="203.0.113.9"))
    second = post_order(merchant_client, order_body(UserFactory(), "200.00", ip="203.0.113.9"))

    assert first.status_code == second.status_code == 201
    assert len(first.json()["earned_packets"]) == 1
    assert second.json()["earned_packets"] == []
    assert EarningEvent.objects.filter(kind="issue", ip="203.0.113.9").count() == 1
    call_command("audit")


def test_a_redemption_past_the_device_limit_is_refused_with_429_and_writes_nothing(merchant_client):
    campaign = two_way_campaign(merchant=merchant_client.merchant)
    _policy(campaign, min_interval_minutes=0, device_daily_limit=1)
    shoppers = [UserFactory(), UserFactory()]
    codes = [post_order(merchant_client, order_body(s, "200.00")).json()["earned_packets"][0]["code"] for s in shoppers]
    spent = post_order(merchant_client, order_body(shoppers[0], "50.00", packet_code=codes[0], device_id="phone-0001"))
    assert spent.status_code == 201
    rebates_credit_for_redemption(redemption_id=Order.objects.get(pk=spent.json()["id"]).redemption.pk)
    orders_before = Order.objects.count()

    refused = post_order(
        merchant_client, order_body(shoppers[1], "50.00", packet_code=codes[1], device_id="phone-0001")
    )

    assert refused.status_code == 429
    assert refused.json()["code"] == "device_daily_limit"
    assert Order.objects.count() == orders_before
    assert Packet.objects.get(code=codes[1]).status == "issued"
    call_command("audit")


def test_api_device_ids_are_kept_apart_per_merchant(merchant_client):
    two_way_campaign(merchant=merchant_client.merchant)
    post_order(merchant_client, order_body(UserFactory(), "20.00", device_id="phone-0001"))

    device = Device.objects.get()
    assert device.fingerprint == f"m{merchant_client.merchant.pk}:phone-0001"
    assert list(device.accounts.all()) == [Order.objects.get().shopper]


def test_a_malformed_device_id_is_refused_clearly(merchant_client):
    two_way_campaign(merchant=merchant_client.merchant)

    response = post_order(merchant_client, order_body(UserFactory(), "20.00", device_id="<script>"))

    assert response.status_code == 400
    assert "device_id" in response.json()["details"]
    assert not Order.objects.exists()


@pytest.fixture
def batch_packets():
    campaign = two_way_campaign(budget="1000.00")
    batch = batches.packets_generate(campaign=campaign, count=12)
    return list(Packet.objects.filter(batch=batch).order_by("pk"))


def _shopper_client(user, **extra) -> APIClient:
    client = APIClient(**extra)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_a_forged_x_forwarded_for_does_not_escape_the_ip_limit(batch_packets, settings):
    """Behind one trusted proxy the counted IP is the one the proxy appended, whatever the client put before it."""
    settings.TRUSTED_PROXY_COUNT = 1
    RiskPolicy.objects.create(campaign_id=batch_packets[0].campaign_id, min_interval_minutes=0, ip_daily_limit=2)
    statuses = []
    for i, packet in enumerate(batch_packets[:4]):
        client = _shopper_client(UserFactory(), REMOTE_ADDR="10.0.0.1")
        forged = f"6.6.6.{i}, 203.0.113.50"  # the client's own entry first, the proxy's view of the client last
        response = client.post(
            "/api/v1/packets/claim/", {"code": packet.code}, format="json", HTTP_X_FORWARDED_FOR=forged
        )
        statuses.append((response.status_code, response.json()["code"] if response.status_code != 200 else "ok"))

    assert statuses == [(200, "ok"), (200, "ok"), (429, "ip_daily_limit"), (429, "ip_daily_limit")]
    assert set(EarningEvent.objects.values_list("ip", flat=True)) == {"203.0.113.50"}


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_from_one_ip_never_pass_the_daily_limit():
    campaign = two_way_campaign(budget="1000.00")
    RiskPolicy.objects.create(campaign=campaign, min_interval_minutes=0)
    packets = list(Packet.objects.filter(batch=batches.packets_generate(campaign=campaign, count=12)))
    users = [UserFactory() for _ in packets]
    context = EarnContext(ip="198.51.100.99")

    results = race(
        [lambda p=p, u=u: batches.packet_claim(code=p.code, user=u, context=context) for p, u in zip(packets, users)]
    )

    assert sum(isinstance(r, Packet) for r in results) == 5, results
    assert all(isinstance(r, Packet | EarningLimitReached) for r in results), results
    assert Packet.objects.filter(holder__isnull=False).count() == 5
    call_command("audit")


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_from_one_device_within_the_interval_let_exactly_one_through():
    campaign = two_way_campaign(budget="1000.00")
    packets = list(Packet.objects.filter(batch=batches.packets_generate(campaign=campaign, count=8)))
    context = EarnContext(device=DeviceFactory())

    results = race(
        [lambda p=p: batches.packet_claim(code=p.code, user=UserFactory(), context=context) for p in packets]
    )

    assert sum(isinstance(r, Packet) for r in results) == 1, results
    assert {r.code for r in results if isinstance(r, EarningLimitReached)} == {"device_too_soon"}


def test_settings_refuse_a_per_process_cache():
    with pytest.raises(ImproperlyConfigured, match="shared by every web process"):
        require_shared_cache({"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}})
    require_shared_cache({"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache"}})


def test_the_app_does_not_start_with_a_local_memory_cache():
    env = {**os.environ, "CACHE_BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "rate limits need a cache shared by every web process" in result.stderr
