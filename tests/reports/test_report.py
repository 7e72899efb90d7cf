"""The evaluation report: every key against the independent computation of tests/reports/expected.py, over a known
month built through the services (tests/reports/activity.py)."""

import pytest

from reports.selectors import campaign_report
from reports.services import rollups_apply, rollups_audit, rollups_rebuild
from tests.reports.activity import build_month
from tests.reports.expected import campaign_expected, merchant_expected

pytestmark = pytest.mark.django_db


@pytest.fixture
def month():
    return build_month()


def _breakdowns_by_value(report: dict) -> dict:
    return {
        dimension: {row["value"]: {k: v for k, v in row.items() if k not in ("value", "label")} for row in rows}
        for dimension, rows in report["breakdowns"].items()
    }


def _assert_matches_independent_computation(report: dict, month) -> None:
    expected = campaign_expected(month.campaign, month.period) | merchant_expected(month.merchant, month.period)
    for key in (
        "participants",
        "new_signups",
        "packets",
        "cashback",
        "sales_driven",
        "packet_value_spent",
        "cost",
        "roi",
        "daily",
        "merchant_sales",
        "sales_yoy",
        "sales_mom",
        "category_shares",
        "activity_lift",
    ):
        assert report[key] == expected[key], key
    assert _breakdowns_by_value(report) == expected["breakdowns"]


def test_raw_report_matches_an_independent_computation_of_every_key(month):
    report = campaign_report(campaign=month.campaign, period=month.period, from_raw=True)

    _assert_matches_independent_computation(report, month)


def test_raw_report_holds_the_months_known_figures(month):
    report = campaign_report(campaign=month.campaign, period=month.period, from_raw=True)

    # 3 purchases ≥ 200 (10.00), 1 manual grant (3.00), 3 batch packets (10.00), 2 registrations (5.00).
    assert report["packets"]["issued"] == {"count": 9, "value": "73.00"}
    assert report["packets"]["claimed"] == {"count": 7, "value": "53.00"}  # 2 batch packets never claimed
    assert report["packets"]["used"] == {"count": 4, "value": "40.00"}
    assert report["packets"]["expired"] == {"count": 1, "value": "3.00"}
    assert report["sales_driven"] == "345.00"  # 80 + 120 + 55 + 90
    assert report["new_signups"] == 2
    assert report["cashback"]["reversed"] == "9.00"  # half of 120's 12.00 + 6.00 legs refunded
    assert report["sales_yoy"]["previous"] == "100.00"


def test_rollup_report_equals_the_raw_report(month):
    rollups_apply()

    assert campaign_report(campaign=month.campaign, period=month.period) == campaign_report(
        campaign=month.campaign, period=month.period, from_raw=True
    )


def test_applying_the_rollups_twice_changes_nothing(month):
    rollups_apply()
    once = campaign_report(campaign=month.campaign, period=month.period)

    rollups_apply(lookback=10**9)

    assert campaign_report(campaign=month.campaign, period=month.period) == once


def test_rollups_audit_is_clean_after_apply_and_rebuild(month):
    rollups_apply()
    assert not any(rollups_audit().values())

    rollups_rebuild()
    assert not any(rollups_audit().values())


def test_rollups_audit_finds_a_tampered_rollup(month):
    from reports.models import CampaignDayFigure

    rollups_apply()
    row = CampaignDayFigure.objects.filter(campaign=month.campaign, dimension="total", metric="issued_count").first()
    CampaignDayFigure.objects.filter(pk=row.pk).update(amount=row.amount + 1)

    findings = rollups_audit()

    assert findings["report rollups (campaign) equal a recomputation from the raw rows"]


def test_rebuild_rollups_command_shows_progress_and_ends_audited(month):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("rebuild_rollups", stdout=out)

    assert "campaign:use" in out.getvalue()
    assert "rollups rebuilt" in out.getvalue()
    assert campaign_report(campaign=month.campaign, period=month.period) == campaign_report(
        campaign=month.campaign, period=month.period, from_raw=True
    )
