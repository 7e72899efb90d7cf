"""Device identity on the pages: a signed first-party cookie, recorded with the accounts that earn on it."""

import json

import pytest
from django.core import signing

from accounts.models import Device, DeviceUse
from antifraud.devices import COOKIE, SIGNALS_COOKIE
from antifraud.models import EarningEvent
from packets import batch as batches
from packets.models import Packet
from tests.factories.accounts import UserFactory
from tests.factories.campaigns import two_way_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def codes():
    campaign = two_way_campaign()
    batch = batches.packets_generate(campaign=campaign, count=3)
    return list(Packet.objects.filter(batch=batch).order_by("pk").values_list("code", flat=True))


def test_a_browser_gets_a_signed_device_cookie_once(client):
    first = client.get("/accounts/login/")
    second = client.get("/accounts/login/")

    cookie = first.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert COOKIE not in second.cookies  # kept, not renewed


def test_the_api_sets_no_device_cookie(merchant_client):
    assert COOKIE not in merchant_client.get("/api/v1/packets/").cookies


def test_a_claim_records_the_device_and_the_account_that_used_it(client, codes):
    user = UserFactory()
    client.force_login(user)
    signals = signing.b64_encode(json.dumps({"screen": "390x844@3", "tz": "Asia/Shanghai"}).encode()).decode()
    client.cookies[SIGNALS_COOKIE] = signals
    client.get("/claim/")

    client.post(f"/claim/{codes[0]}/")

    device = Device.objects.get()
    assert device.fingerprint.startswith("web:")
    assert device.signals == {"screen": "390x844@3", "tz": "Asia/Shanghai"}
    assert list(DeviceUse.objects.values_list("user", flat=True)) == [user.pk]
    event = EarningEvent.objects.get()
    assert (event.kind, event.device, event.ip) == ("claim", device, "127.0.0.1")


def test_two_accounts_on_one_browser_share_one_device(client, codes):
    client.get("/claim/")
    for code in codes[:2]:
        client.force_login(UserFactory())
        client.post(f"/claim/{code}/")

    assert Device.objects.count() == 1
    assert DeviceUse.objects.count() == 2


def test_a_forged_device_cookie_is_replaced_not_trusted(client, codes):
    client.cookies[COOKIE] = "web-someone-elses-device"
    response = client.get("/claim/")

    assert response.cookies[COOKIE].value != "web-someone-elses-device"


def test_malformed_browser_signals_are_ignored(client, codes):
    client.force_login(UserFactory())
    client.cookies[SIGNALS_COOKIE] = "%%%not-base64"
    client.get("/claim/")

    assert client.post(f"/claim/{codes[0]}/").status_code == 302
    assert Device.objects.get().signals == {}


def test_the_ten_minute_interval_applies_to_claims_from_one_browser(client, codes):
    client.get("/claim/")
    client.force_login(UserFactory())
    client.post(f"/claim/{codes[0]}/")
    client.force_login(UserFactory())

    response = client.post(f"/claim/{codes[1]}/", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 429
    assert "must be a few minutes apart" in response.content.decode()
    assert Packet.objects.filter(holder__isnull=False).count() == 1
