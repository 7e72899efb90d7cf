"""The demo campaign's report in a real browser: `make run`'s demo data (a few months of history through the
services), the manager opens the report at 1280 px in zh-Hans, every chart is drawn by the vendored ECharts, nothing
is loaded from another host; screenshots in test-artifacts/screenshots/."""

import os

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs a loop in this thread (see conftest)

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from campaigns.models import Campaign
from tests.e2e.conftest import SCREENSHOTS, needs_chromium

pytestmark = [needs_chromium, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHARTS = ("daily", "tier", "channel", "trigger", "province", "categories", "sales")


def test_manager_opens_the_demo_campaigns_report_with_its_charts(open_tab):
    call_command("load_demo_data")
    campaign = Campaign.objects.get(name__startswith="满200")
    today = timezone.localdate()
    tab = open_tab("zh-hans", "report")
    page = tab.page
    page.set_viewport_size({"width": 1280, "height": 800})
    tab.go("/admin/login/?next=/admin/")
    page.fill("#id_username", "manager")
    page.fill("#id_password", "demo-pass-123")
    with page.expect_navigation():
        page.locator("input[type=submit]").click()

    start = (today - timedelta(days=89)).isoformat()
    tab.go(f"/admin/reports/campaignreport/{campaign.pk}/change/?from={start}&to={today.isoformat()}")
    for chart in CHARTS:
        page.wait_for_selector(f"#chart-{chart}[data-drawn='1'] svg")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "report-zh-hans-demo-1280.png"), full_page=True)

    assert "参与人数" in page.content()
    assert int(page.locator("#table-daily tbody tr").count()) == 90
    assert tab.foreign_requests() == []
