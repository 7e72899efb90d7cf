"""The report page in the admin: the manager's own campaigns only, the range's errors at the field in the user's
language, every table exported as CSV and all of them as XLSX."""

import io

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from openpyxl import load_workbook

from accounts import roles
from accounts.models import MerchantStaff
from reports.services import rollups_apply
from tests.factories.accounts import MerchantStaffFactory, UserFactory
from tests.factories.campaigns import two_way_campaign
from tests.reports.activity import Shop

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(client):
    staff = MerchantStaffFactory(role=MerchantStaff.Role.CAMPAIGN_MANAGER, user__is_staff=True)
    staff.user.groups.add(Group.objects.get(name=roles.CAMPAIGN_MANAGER))
    client.force_login(staff.user)
    client.cookies["django_language"] = "zh-hans"
    return staff


@pytest.fixture
def campaign(manager):
    campaign = two_way_campaign(merchant=manager.merchant)
    shop, shopper = Shop(manager.merchant), UserFactory()
    earned = shop.order(shopper, timezone.now(), [("fruit", "200.00", 1)])
    shop.order(shopper, timezone.now(), [("dairy", "60.00", 1)], packet=earned.earned_packets.get())
    rollups_apply()
    return campaign


def _page(campaign) -> str:
    return f"/admin/reports/campaignreport/{campaign.pk}/change/"


def test_the_report_page_shows_the_figures_and_the_charts_in_chinese(client, campaign):
    reply = client.get(_page(campaign))

    assert reply.status_code == 200
    html = reply.content.decode()
    assert "参与人数" in html and "带动销售额" in html
    assert 'id="chart-daily"' in html and "vendor/echarts-6.1.0/echarts.min.js" in html
    assert reply.context["report"]["sales_driven"] == "60.00"


def test_a_bad_date_is_shown_at_the_field_in_the_users_language(client, campaign):
    reply = client.get(_page(campaign), {"from": "2026-02-30"})

    assert reply.status_code == 200
    assert reply.context["report"] is None
    assert "必须是" in str(reply.context["form"].errors["from_"])


def test_another_merchants_campaign_report_is_a_404(client, manager):
    foreign = two_way_campaign()

    assert client.get(_page(foreign)).status_code == 404


def test_the_daily_table_exports_as_csv(client, campaign):
    reply = client.get(f"/admin/reports/campaignreport/{campaign.pk}/export.csv", {"table": "daily"})

    assert reply.status_code == 200
    text = reply.content.decode("utf-8-sig")
    rows = text.strip().splitlines()
    assert rows[0].startswith("日期,")
    assert len(rows) == 1 + 30
    assert rows[-1].endswith(",60.00")


def test_every_table_exports_as_a_sheet_of_one_workbook(client, campaign):
    reply = client.get(f"/admin/reports/campaignreport/{campaign.pk}/export.xlsx")

    workbook = load_workbook(io.BytesIO(reply.content))
    assert workbook.sheetnames == [
        "summary",
        "daily",
        "by_tier",
        "by_trigger",
        "by_channel",
        "by_province",
        "categories",
    ]
    summary = {row[0]: row[1] for row in workbook["summary"].iter_rows(min_row=2, values_only=True)}
    assert summary["带动销售额"] == 60


def test_an_unknown_table_is_a_400(client, campaign):
    reply = client.get(f"/admin/reports/campaignreport/{campaign.pk}/export.csv", {"table": "nope"})

    assert reply.status_code == 400
