"""The customer-service trace in the admin: found by order number, shopper phone or packet code; the whole timeline
with who acted; a merchant's staff see only their own merchant's orders."""

from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Group

from accounts import roles
from accounts.models import MerchantStaff
from packets.services import order_refund
from rebates.services import rebates_credit_for_redemption
from reports.trace import order_trace, trace_orders_find, trace_search
from tests.campaigns.test_rules_in_orders import buy
from tests.factories.accounts import MerchantStaffFactory, UserFactory
from tests.factories.campaigns import two_way_campaign

pytestmark = pytest.mark.django_db
PAGE = "/admin/reports/ordertrace/"


def _staff(role=MerchantStaff.Role.CAMPAIGN_MANAGER, group=roles.CAMPAIGN_MANAGER):
    staff = MerchantStaffFactory(role=role, user__is_staff=True)
    staff.user.groups.add(Group.objects.get(name=group))
    return staff


@pytest.fixture
def world():
    staff = _staff()
    two_way_campaign(merchant=staff.merchant, budget="5000.00")
    shopper = UserFactory()
    first = buy(staff.merchant, shopper, ("fruit", "200.00"))
    packet = first.earned_packets.get()
    spent = buy(staff.merchant, shopper, ("fruit", "50.00"), code=packet.code)
    rebates_credit_for_redemption(redemption_id=spent.redemption.pk)
    order_refund(order=spent, amount=Decimal("50.00"), reason="damaged fruit")
    return SimpleNamespace(staff=staff, shopper=shopper, first=first, spent=spent, packet=packet)


def test_the_timeline_runs_from_the_order_to_its_rebates_and_their_reversal(world):
    w = world

    kinds = [s.kind for s in order_trace(w.spent).steps]

    assert kinds[:3] == ["ordered", "packet_issued", "packet_spent"]
    rebates = list(w.spent.redemption.rebates.all())
    assert rebates, "the two-way campaign pays rebates on the spent packet"
    assert kinds.count("rebate_computed") == len(rebates)
    assert kinds.count("rebate_reversed") == sum(1 for r in rebates if r.reversed_amount)
    assert "refund" in kinds
    refund = next(s for s in order_trace(w.spent).steps if s.kind == "refund")
    assert refund.detail == "damaged fruit" and refund.actor == w.staff.merchant.name
    assert [s.kind for s in order_trace(w.first).steps if s.kind == "earned"] == ["earned"]


def test_found_by_order_number_phone_and_packet_code_as_typed(world):
    w = world
    user = w.staff.user

    assert list(trace_orders_find(user=user, query=w.spent.order_no)) == [w.spent]
    assert set(trace_orders_find(user=user, query=w.shopper.phone)) == {w.first, w.spent}
    # The code typed in lower case without dashes finds the order that spent it and the one that earned it.
    typed = w.packet.code.replace("-", "").lower()
    assert set(trace_orders_find(user=user, query=typed)) == {w.first, w.spent}
    assert list(trace_orders_find(user=user, query="no-such-thing")) == []


def test_another_merchants_staff_find_nothing(world):
    w = world
    intruder = _staff()

    for query in (w.spent.order_no, w.shopper.phone, w.packet.code):
        assert list(trace_orders_find(user=intruder.user, query=query)) == []


def test_the_page_shows_the_timeline_in_chinese_and_hides_other_merchants_orders(client, world):
    w = world
    client.force_login(w.staff.user)
    client.cookies["django_language"] = "zh-hans"

    reply = client.get(PAGE, {"q": w.spent.order_no})

    assert reply.status_code == 200
    html = reply.content.decode()
    assert f'data-order="{w.spent.order_no}"' in html and 'data-step="rebate_reversed"' in html
    assert "客服查询" in html and "退款" in html

    client.force_login(_staff().user)
    reply = client.get(PAGE, {"q": w.spent.order_no})
    assert reply.status_code == 200 and reply.context["traces"] == []
    assert 'id="trace-none"' in reply.content.decode()


def test_a_shopper_is_sent_to_the_admin_login(client, world):
    client.force_login(world.shopper)

    reply = client.get(PAGE, {"q": world.spent.order_no})

    assert reply.status_code == 302 and reply["Location"].startswith("/admin/login/")


def test_payouts_are_shown_to_platform_operators_only(world):
    from rebates.payouts.models import Payout

    Payout.objects.create(
        beneficiary=world.shopper, amount=Decimal("1.00"), channel=Payout.Channel.WALLET, out_bill_no="TRACE1"
    )
    operator = UserFactory(is_staff=True)
    operator.groups.add(Group.objects.get(name=roles.PLATFORM_OPERATOR))

    def kinds(user):
        [trace] = [t for t in trace_search(user=user, query=world.spent.order_no)]
        return [s.kind for s in trace.steps]

    assert "payout" in kinds(operator)
    assert "payout" not in kinds(world.staff.user)
