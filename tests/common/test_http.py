"""The client IP (common.http): always a valid address or nothing, so rate limits never crash on what they count."""

from decimal import Decimal

import pytest
from django.test import RequestFactory
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from common.http import UNKNOWN_IP, client_ip, ratelimit_ip
from lucky.models import LuckyPacket
from lucky.services import group_create, group_join, packet_send
from tests.factories.accounts import UserFactory
from tests.factories.lucky import fund_cash


@pytest.mark.parametrize("remote", ["", "not-an-ip", "10.0.0.1/32"])
def test_an_address_that_is_not_one_is_no_address(settings, remote):
    settings.TRUSTED_PROXY_COUNT = 0
    request = RequestFactory().get("/", REMOTE_ADDR=remote)

    assert client_ip(request) == ""
    assert ratelimit_ip(request) == UNKNOWN_IP


def test_a_forwarded_entry_that_is_not_an_address_is_no_address(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR="garbage")

    assert client_ip(request) == ""


def test_a_valid_address_is_kept(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR="203.0.113.7")

    assert client_ip(request) == ratelimit_ip(request) == "203.0.113.7"


@pytest.mark.django_db
def test_a_rate_limited_call_without_a_remote_address_is_answered(settings):
    # schemathesis found it: an empty REMOTE_ADDR made django-ratelimit build the network "/32" → 500.
    settings.TRUSTED_PROXY_COUNT = 0
    sender, grabber = UserFactory(), UserFactory()
    group = group_create(owner=sender, name="Family")
    group_join(user=grabber, invite_token=group.invite_token)
    fund_cash(sender, "5.00")
    packet = packet_send(sender=sender, group=group, kind=LuckyPacket.Kind.RANDOM, total=Decimal("1.00"), share_count=1)
    client = APIClient(REMOTE_ADDR="")
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=grabber).key}")

    reply = client.post(f"/api/v1/lucky/packets/{packet.pk}/grab/")

    assert reply.status_code == 200, reply.content
    assert reply.json()["amount"] == "1.00"
