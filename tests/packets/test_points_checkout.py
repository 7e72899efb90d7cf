from decimal import Decimal

import pytest
from django.core.management import call_command

from rebates.models import AccountKind, LedgerAccount
from rebates.services import rebates_credit_for_redemption
from tests.factories.accounts import UserFactory
from tests.factories.campaigns import two_way_campaign

from .helpers import order_body, post_order

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def shopper_with_250_points(merchant_client):
    campaign = two_way_campaign(merchant=merchant_client.merchant, holder_form="points", points_per_cny=100)
    shopper = UserFactory()
    code = post_order(merchant_client, order_body(shopper, "200.00")).json()["earned_packets"][0]["code"]
    order_id = post_order(merchant_client, order_body(shopper, "50.00", packet_code=code)).json()["id"]
    from packets.models import Redemption

    rebates_credit_for_redemption(redemption_id=Redemption.objects.get(order_id=order_id).pk)
    return campaign, shopper


def points(shopper) -> Decimal:
    return LedgerAccount.objects.get(kind=AccountKind.SHOPPER_POINTS, user=shopper).balance


def test_points_pay_part_of_an_order_and_the_merchant_is_made_whole(merchant_client, shopper_with_250_points):
    _, shopper = shopper_with_250_points
    deposit = LedgerAccount.objects.get(kind=AccountKind.MERCHANT_DEPOSIT, merchant=merchant_client.merchant)
    before = deposit.balance
    reply = post_order(merchant_client, order_body(shopper, "30.00", points=200))
    assert reply.status_code == 201, reply.json()
    body = reply.json()
    assert (body["points_used"], body["points_discount"], body["amount_paid"]) == (200, "2.00", "28.00")
    assert points(shopper) == D("50")
    deposit.refresh_from_db()
    assert deposit.balance == before + D("2.00")
    call_command("audit")


@pytest.mark.parametrize(
    ("points_used", "status", "code"),
    [(251, 409, "insufficient_points"), (-1, 400, "invalid"), (3001, 400, "points_exceed_amount")],
)
def test_bad_point_payments_are_refused_and_write_nothing(
    merchant_client, shopper_with_250_points, points_used, status, code
):
    _, shopper = shopper_with_250_points
    reply = post_order(merchant_client, order_body(shopper, "30.00", points=points_used))
    assert (reply.status_code, reply.json()["code"]) == (status, code)
    assert points(shopper) == D("250")
