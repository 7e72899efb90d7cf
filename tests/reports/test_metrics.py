"""/metrics: the Prometheus text format, only for the scraper's token or a platform operator; the business counters
and gauges equal what the rows say."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from accounts import roles
from packets.models import Packet, PacketNotIssued
from rebates.models import OutboxEvent, Rebate
from rebates.services import rebates_credit_for_redemption
from reports.operations import rebate_lag
from tests.campaigns.test_rules_in_orders import buy
from tests.factories.accounts import MerchantStaffFactory, UserFactory
from tests.factories.campaigns import two_way_campaign

pytestmark = pytest.mark.django_db
TOKEN = "scrape-secret-0123456789"


@pytest.fixture(autouse=True)
def token(settings):
    settings.METRICS_TOKEN = TOKEN


def _scrape(client) -> dict[tuple[str, tuple], float]:
    reply = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert reply.status_code == 200
    assert reply["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(reply.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


@pytest.fixture
def shop():
    staff = MerchantStaffFactory()
    two_way_campaign(merchant=staff.merchant, budget="5000.00")
    return staff.merchant


def test_counters_follow_the_rows(client, shop):
    shopper = UserFactory()
    first = buy(shop, shopper, ("fruit", "200.00"))
    packet = first.earned_packets.get()
    spent = buy(shop, shopper, ("fruit", "50.00"), code=packet.code)
    before_credit = _scrape(client)
    rebates_credit_for_redemption(redemption_id=spent.redemption.pk)
    PacketNotIssued.objects.create(
        order=spent, campaign=packet.campaign, earn_rule=packet.earn_rule, amount=Decimal("5.00"), code="ip_too_soon"
    )

    after = _scrape(client)

    issued = sum(v for (name, _), v in after.items() if name == "redpacket_packets_issued_total")
    assert issued == Packet.objects.count() >= 1
    assert after[("redpacket_packets_issued_fen_total", (("channel", packet.channel),))] >= packet.amount * 100
    assert after[("redpacket_redemptions_total", ())] == 1
    assert after[("redpacket_redemptions_discount_fen_total", ())] == spent.discount * 100
    legs = list(Rebate.objects.all())
    assert legs
    for leg in legs:
        labels = (("role", leg.role), ("status", leg.status))
        assert after[("redpacket_rebates_total", labels)] == 1
        assert after[("redpacket_rebates_cost_fen_total", labels)] == leg.cost * 100
    assert after[("redpacket_refusals_total", (("code", "ip_too_soon"),))] == 1
    # The redemption's outbox row waited for the worker; crediting the rebates marked it done.
    pending = OutboxEvent.objects.filter(done_at__isnull=True).count()
    assert after[("redpacket_outbox_backlog", ())] == pending
    assert before_credit[("redpacket_outbox_backlog", ())] == pending + 1
    assert after[("redpacket_payout_backlog", ())] == 0


def test_rebate_lag_percentiles_are_taken_per_redemption():
    shop = MerchantStaffFactory().merchant
    two_way_campaign(merchant=shop, budget="5000.00")
    now = timezone.now()
    for seconds in (10, 100):
        shopper = UserFactory()
        packet = buy(shop, shopper, ("fruit", "200.00")).earned_packets.get()
        spent = buy(shop, shopper, ("fruit", "50.00"), code=packet.code)
        rebates_credit_for_redemption(redemption_id=spent.redemption.pk)
        type(spent.redemption).objects.filter(pk=spent.redemption.pk).update(
            used_at=now - timedelta(minutes=5, seconds=seconds)
        )
        Rebate.objects.filter(redemption=spent.redemption).update(created_at=now - timedelta(minutes=5))

    lag = rebate_lag(since=now - timedelta(hours=1), until=now)

    assert lag.redemptions == 2
    assert lag.p50_seconds == pytest.approx(55.0)
    assert lag.p99_seconds == pytest.approx(10 + 0.99 * 90)
    assert rebate_lag(since=now - timedelta(minutes=1), until=now).p50_seconds is None


def test_only_the_token_or_a_platform_operator_may_read(client, shop):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    merchant_staff = MerchantStaffFactory(user__is_staff=True)
    client.force_login(merchant_staff.user)
    assert client.get("/metrics").status_code == 403
    operator = UserFactory(is_staff=True)
    operator.groups.add(Group.objects.get(name=roles.PLATFORM_OPERATOR))
    client.force_login(operator)
    reply = client.get("/metrics")
    assert reply.status_code == 200 and b"redpacket_rebate_lag_seconds" in reply.content


def test_no_token_configured_means_no_token_is_accepted(client, settings):
    settings.METRICS_TOKEN = ""

    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401
