"""The wallet page: balances from the ledger and the rebate history, for shoppers and merchant staff."""

import uuid
from decimal import Decimal

import pytest

from accounts.models import MerchantStaff
from packets.services import LineInput, order_create, packet_grant
from rebates.services import rebates_credit_for_redemption
from tests.factories.accounts import MerchantFactory, UserFactory
from tests.factories.campaigns import two_way_campaign

D = Decimal
pytestmark = pytest.mark.django_db


def spend_packet(campaign, shopper, gross="50.00"):
    """The shopper spends a packet of `campaign` on an order of `gross`; returns the order (rebates not credited)."""
    packet = packet_grant(rule=campaign.earn_rules.get(), holder=shopper)
    return order_create(
        merchant=campaign.merchant,
        shopper=shopper,
        order_no=f"T-{uuid.uuid4().hex[:8]}",
        lines=[LineInput("SKU-1", "Mango", "fruit", 1, D(gross))],
        gross_amount=D(gross),
        packet_code=packet.code,
    )


def credit(order):
    rebates_credit_for_redemption(redemption_id=order.redemption.pk)


@pytest.fixture
def shopper():
    return UserFactory()


@pytest.fixture
def shopper_client(client, shopper):
    client.force_login(shopper)
    return client


def test_wallet_requires_login(client):
    response = client.get("/wallet/")
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_wallet_shows_cash_and_points_balances(shopper_client, shopper):
    cash_campaign = two_way_campaign()
    points_campaign = two_way_campaign(holder_form="points", points_per_cny=100)
    credit(spend_packet(cash_campaign, shopper, "50.00"))  # 5 % of 50.00 = 2.50 cash
    credit(spend_packet(points_campaign, shopper, "60.00"))  # 5 % of 60.00 = 3.00 → 300 points

    response = shopper_client.get("/wallet/")

    assert [(b["key"], b["display"]) for b in response.context["balances"]] == [
        ("cash", "¥2.50"),
        ("points", "300 points"),
        ("cash_pending", "¥0.00"),
        ("points_pending", "0 points"),
    ]
    html = response.content.decode()
    assert '<p class="amount amount--big mb-0" data-balance="cash">¥2.50</p>' in html
    assert '<p class="amount amount--big mb-0" data-balance="points">300 points</p>' in html


def test_wallet_of_a_new_shopper_shows_zero_and_an_empty_history(shopper_client):
    html = shopper_client.get("/wallet/").content.decode()
    assert "¥0.00" in html and "0 points" in html
    assert "No rebates yet." in html


def test_wallet_history_links_the_order_with_role_amount_form_and_state(shopper_client, shopper):
    order = spend_packet(two_way_campaign(), shopper)
    credit(order)

    html = shopper_client.get("/wallet/").content.decode()

    assert f'<a href="/orders/{order.pk}/">{order.order_no}</a>' in html
    assert "as holder" in html and "+¥2.50" in html and "cash" in html and "Credited" in html
    assert "as issuer" not in html  # the merchant's leg is not the shopper's


def test_wallet_lists_a_redemption_whose_rebates_are_being_calculated(shopper_client, shopper):
    order = spend_packet(two_way_campaign(), shopper)  # the worker has not run

    html = shopper_client.get("/wallet/").content.decode()

    assert f'<a href="/orders/{order.pk}/">{order.order_no}</a>' in html
    assert "Being calculated" in html


def test_wallet_shows_only_my_rebates(shopper_client):
    other_order = spend_packet(two_way_campaign(), UserFactory())
    credit(other_order)
    assert other_order.order_no not in shopper_client.get("/wallet/").content.decode()


def test_merchant_staff_wallet_shows_marketing_credit_and_issuer_rebates_without_order_links(client):
    merchant = MerchantFactory()
    staff = UserFactory()
    MerchantStaff.objects.create(merchant=merchant, user=staff, role=MerchantStaff.Role.ADMIN)
    order = spend_packet(two_way_campaign(merchant=merchant), UserFactory())
    credit(order)
    client.force_login(staff)

    response = client.get("/wallet/")

    assert ("marketing_credit", "¥5.00") in [(b["key"], b["display"]) for b in response.context["balances"]]
    html = response.content.decode()
    assert "as issuer" in html and "+¥5.00" in html and order.order_no in html
    assert f'href="/orders/{order.pk}/"' not in html


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("zh-hans", ["钱包", "现金余额", "积分", "返利记录", "作为红包持有人", "已到账", "现金"]),
        ("en", ["Wallet", "Cash balance", "Points", "Rebate history", "as holder", "Credited"]),
    ],
)
def test_wallet_renders_in_each_language(shopper_client, shopper, language, expected):
    credit(spend_packet(two_way_campaign(), shopper))
    html = shopper_client.get("/wallet/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert f'<html lang="{language}">' in html
    for text in expected:
        assert text in html
