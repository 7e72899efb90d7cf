"""GET /api/v1/campaigns/{id}/report/ and /api/v1/reports/campaigns/: the figures, the range's errors, ownership."""

from datetime import timedelta

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from reports.models import RollupSource
from reports.selectors import Period, campaign_report
from reports.services import rollups_apply
from tests.factories.accounts import UserFactory
from tests.factories.campaigns import two_way_campaign
from tests.reports.activity import Shop

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(merchant_client):
    campaign = two_way_campaign(merchant=merchant_client.merchant)
    shop = Shop(merchant_client.merchant)
    shopper = UserFactory()
    earned = shop.order(shopper, timezone.now(), [("fruit", "200.00", 1)])
    shop.order(shopper, timezone.now(), [("fruit", "60.00", 1)], packet=earned.earned_packets.get())
    rollups_apply()
    return campaign


def _url(campaign) -> str:
    return f"/api/v1/campaigns/{campaign.pk}/report/"


def test_the_report_is_the_campaigns_figures_over_the_range(merchant_client, campaign):
    today = timezone.localdate()

    reply = merchant_client.get(_url(campaign), {"from": (today - timedelta(days=6)).isoformat(), "to": today})

    assert reply.status_code == 200
    body = reply.json()
    assert body == campaign_report(campaign=campaign, period=Period(today - timedelta(days=6), today)) | {
        "from": body["from"]
    }
    assert body["packets"]["used"] == {"count": 1, "value": "10.00"}
    assert body["sales_driven"] == "60.00"
    assert len(body["daily"]) == 7


def test_without_a_range_the_report_covers_the_last_30_days(merchant_client, campaign):
    body = merchant_client.get(_url(campaign)).json()

    assert (body["days"], body["to"]) == (30, timezone.localdate().isoformat())


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"from": "2026-13-01"}, "invalid_date"),
        ({"to": "yesterday"}, "invalid_date"),
        ({"from": "1999-12-31"}, "invalid_date"),
        ({"from": "2026-02-30"}, "invalid_date"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "invalid_date_range"),
        ({"from": "2025-01-01", "to": "2026-03-01"}, "date_range_too_long"),
    ],
)
def test_a_bad_range_is_a_400_with_a_stable_code_and_writes_nothing(merchant_client, campaign, query, code):
    before = RollupSource.objects.count()

    reply = merchant_client.get(_url(campaign), query)

    assert reply.status_code == 400
    assert reply.json()["code"] == code
    assert set(reply.json()) == {"code", "message", "details"}
    assert RollupSource.objects.count() == before


def test_another_merchants_campaign_is_a_404(merchant_client):
    foreign = two_way_campaign()

    reply = merchant_client.get(_url(foreign))

    assert reply.status_code == 404
    assert reply.json()["code"] == "not_found"


def test_the_list_reports_only_the_callers_campaigns(merchant_client, campaign):
    foreign = two_way_campaign()

    body = merchant_client.get("/api/v1/reports/campaigns/", {"ids": f"{campaign.pk},{foreign.pk}"}).json()

    assert [r["campaign"]["id"] for r in body["results"]] == [campaign.pk]
    assert body["results"][0]["sales_driven"] == "60.00"


@pytest.mark.parametrize("ids", ["1,two", "²", "1,\u0663"])
def test_the_list_refuses_ids_that_are_not_ids(merchant_client, campaign, ids):
    # "²" and "٣" are str.isdigit() yet int() refuses the first: only ASCII digits are ids (once a 500).
    reply = merchant_client.get("/api/v1/reports/campaigns/", {"ids": ids})

    assert (reply.status_code, reply.json()["code"]) == (400, "invalid_ids")


def test_the_schema_documents_every_key_of_the_report():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    report = schema["components"]["schemas"]["ReportOutput"]["properties"]

    assert {
        "participants",
        "new_signups",
        "activity_lift",
        "packets",
        "cashback",
        "sales_driven",
        "cost",
        "roi",
        "breakdowns",
        "sales_yoy",
        "sales_mom",
        "category_shares",
        "daily",
        "from",
        "to",
    } <= set(report)
    operation = schema["paths"]["/api/v1/campaigns/{campaign_id}/report/"]["get"]
    assert {"200", "400", "404"} <= set(operation["responses"])
