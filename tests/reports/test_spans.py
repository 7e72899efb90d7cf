"""The shopper spans behind the rollup report's distinct counts (reports/spans.py): kept in step with the
shopper-day rollups by triggers through apply, rebuild, edits and deletes; checked by the audit; and the report
reads the rollups in a fixed, small number of queries."""

from datetime import timedelta

import pytest
from django.db import connection

from campaigns.models import Campaign
from packets.services import packet_grant
from reports.models import CampaignShopperDay, MerchantShopperDay
from reports.selectors import (
    campaign_participants,
    campaign_report,
    merchant_activity,
    merchant_shoppers,
)
from reports.services import rollups_apply, rollups_audit, rollups_rebuild
from reports.spans import SPANS, span_mismatches
from tests.factories.accounts import MerchantFactory
from tests.factories.campaigns import platform_campaign, two_way_campaign
from tests.reports.activity import Shop, at, build_month

pytestmark = pytest.mark.django_db


@pytest.fixture
def month():
    built = build_month()
    rollups_apply()
    return built


def _clean() -> bool:
    return not any(span_mismatches(span) for span in SPANS)


def _span_rows(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        return cursor.fetchone()[0]


def test_spans_follow_apply_and_rebuild(month):
    assert _clean()
    assert _span_rows("reports_campaign_shopper_span") == (
        CampaignShopperDay.objects.values("campaign", "user").distinct().count()
    )
    assert _span_rows("reports_merchant_shopper_span") == (
        MerchantShopperDay.objects.values("merchant", "user").distinct().count()
    )

    rollups_rebuild()

    assert _clean()
    assert not any(rollups_audit().values())


def test_spans_follow_edits_and_deletes_of_the_shopper_days(month):
    row = CampaignShopperDay.objects.filter(campaign=month.campaign).order_by("pk").first()
    CampaignShopperDay.objects.filter(pk=row.pk).update(day=row.day - timedelta(days=40))  # moved: recomputed
    assert _clean()
    signed = CampaignShopperDay.objects.filter(signed_up=True).first()
    CampaignShopperDay.objects.filter(pk=signed.pk).update(signed_up=False)  # a sign-up turned off
    assert _clean()
    CampaignShopperDay.objects.filter(pk=signed.pk).update(signed_up=True)
    assert _clean()
    MerchantShopperDay.objects.filter(merchant=month.merchant).order_by("pk").first().delete()
    CampaignShopperDay.objects.filter(user=row.user).delete()
    assert _clean()
    MerchantShopperDay.objects.filter(pk__in=MerchantShopperDay.objects.order_by("pk").values("pk")[:2]).update(
        user=row.user
    )
    assert _clean()
    with connection.cursor() as cursor:  # the deferred foreign-key checks first: TRUNCATE waits for no trigger
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("TRUNCATE reports_campaign_shopper_day, reports_merchant_shopper_day")
    assert _clean() and _span_rows("reports_campaign_shopper_span") == 0


def test_the_audit_finds_a_tampered_span(month):
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE reports_merchant_shopper_span SET days = days + datemultirange(daterange('2001-01-01', "
            "'2001-01-02')) WHERE merchant_id = %s",
            [month.merchant.pk],
        )

    assert rollups_audit()["report rollups (reports_merchant_shopper_span) equal their shopper-days"]


def test_distinct_counts_over_several_campaigns_and_every_merchant_equal_the_raw_rows(month):
    # A second campaign at another merchant, earned and spent by shoppers of the first (counted once over both).
    other = two_way_campaign(merchant=MerchantFactory(), budget="500.00")
    Campaign.objects.filter(pk=other.pk).update(starts_at=at(month.period.start - timedelta(days=400)))
    shop = Shop(other.merchant)
    for order in month.orders[:3]:
        earned = shop.order(order.shopper, at(month.period.start + timedelta(days=2)), [("fruit", "200.00", 1)])
        shop.order(order.shopper, at(month.period.end), [("fruit", "60.00", 1)], packet=earned.earned_packets.get())
    rollups_apply()
    ids = [month.campaign.pk, other.pk]
    for period in (month.period, month.period.before(), month.period.shifted(months=12)):
        assert campaign_participants(ids, period, from_raw=False) == campaign_participants(ids, period, from_raw=True)
        for merchant in (None, month.merchant.pk, month.other_merchant.pk, other.merchant_id):
            assert merchant_activity(merchant, period, from_raw=False) == merchant_activity(
                merchant, period, from_raw=True
            )
    platform = platform_campaign()  # measured against every merchant's sales and shoppers
    Campaign.objects.filter(pk=platform.pk).update(starts_at=at(month.period.start - timedelta(days=400)))
    platform.refresh_from_db()
    granted = packet_grant(rule=platform.earn_rules.get(), holder=month.orders[0].shopper)
    shop.order(month.orders[0].shopper, at(month.period.end), [("dairy", "30.00", 1)], packet=granted)
    rollups_apply()
    assert campaign_report(campaign=platform, period=month.period) == campaign_report(
        campaign=platform, period=month.period, from_raw=True
    )
    assert merchant_shoppers(None, [month.period, month.period.before()]) == [
        merchant_activity(None, p, from_raw=True)[2] for p in (month.period, month.period.before())
    ]


def test_the_rollup_report_reads_four_queries(month, django_assert_num_queries):
    with django_assert_num_queries(4):  # campaign days, participants, merchant days (4 periods), merchant shoppers
        report = campaign_report(campaign=month.campaign, period=month.period)

    assert report == campaign_report(campaign=month.campaign, period=month.period, from_raw=True)
