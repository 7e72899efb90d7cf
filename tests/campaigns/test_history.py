"""The rule history: field-level RuleChange rows, as the API and the admin record them. One behaviour per test."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from campaigns.history import (
    campaign_changes_record,
    campaign_rules_snapshot,
    field_diff,
    rule_changes_record,
    rule_fields,
)
from campaigns.models import MultiplierWindow, RebateRule, RuleChange
from tests.factories.accounts import UserFactory
from tests.factories.campaigns import two_way_campaign

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def campaign():
    return two_way_campaign(budget="0")


def test_only_the_changed_fields_are_recorded(campaign):
    actor = UserFactory()
    change = rule_changes_record(
        campaign=campaign,
        actor=actor,
        target="rebate_rule",
        before={"issuer_rate": D("10.00"), "holder_rate": D("5.00")},
        after={"issuer_rate": D("10.00"), "holder_rate": D("6.00")},
    )
    change.refresh_from_db()
    assert (change.target, change.actor, change.changes) == (
        "rebate_rule",
        actor,
        {"holder_rate": {"before": "5.00", "after": "6.00"}},
    )


def test_nothing_is_recorded_when_nothing_changed(campaign):
    fields = {"holder_rate": D("5.00")}
    assert rule_changes_record(campaign=campaign, actor=None, target="rebate_rule", before=fields, after=fields) is None
    assert not RuleChange.objects.exists()


def test_decimals_and_times_are_stored_as_exact_strings(campaign):
    at = timezone.now()
    change = rule_changes_record(
        campaign=campaign,
        actor=None,
        target="multiplier_window#1",
        before={"factor": D("2.00"), "starts_at": at},
        after={"factor": D("1.50"), "starts_at": at + timedelta(hours=1)},
    )
    change.refresh_from_db()
    assert change.changes["factor"] == {"before": "2.00", "after": "1.50"}
    assert change.changes["starts_at"]["before"] == at.isoformat()


def test_a_created_row_records_every_field_from_null(campaign):
    diff = field_diff({}, {"category": "fruit", "holder_rate": D("8.00")})
    assert diff == {"category": {"before": None, "after": "fruit"}, "holder_rate": {"before": None, "after": "8.00"}}


def test_an_anonymous_actor_is_recorded_as_the_system(campaign):
    change = rule_changes_record(
        campaign=campaign, actor=AnonymousUser(), target="campaign", before={"name": "a"}, after={"name": "b"}
    )
    assert change.actor is None


def test_rule_fields_leave_out_counters_and_the_campaign_link(campaign):
    fields = rule_fields(campaign)
    assert "packets_issued" not in fields and "created_at" not in fields
    assert fields["merchant"] == campaign.merchant_id
    assert "campaign" not in rule_fields(campaign.rebate_rule)


def test_snapshots_diff_into_one_row_per_changed_target(campaign):
    actor = UserFactory()
    before = campaign_rules_snapshot(campaign)
    RebateRule.objects.filter(campaign=campaign).update(holder_rate=D("6.00"))
    window = MultiplierWindow.objects.create(
        campaign=campaign, starts_at=timezone.now(), ends_at=timezone.now() + timedelta(days=1)
    )
    changes = campaign_changes_record(
        campaign=campaign, actor=actor, before=before, after=campaign_rules_snapshot(campaign)
    )
    assert sorted(c.target for c in changes) == [f"multiplier_window#{window.pk}", "rebate_rule"]


def test_a_deleted_row_records_its_last_values_to_null(campaign):
    rule = campaign.earn_rules.get()
    rule_id = rule.pk
    before = campaign_rules_snapshot(campaign)
    rule.delete()
    [change] = campaign_changes_record(
        campaign=campaign, actor=None, before=before, after=campaign_rules_snapshot(campaign)
    )
    assert change.target == f"earn_rule#{rule_id}"
    assert change.changes["packet_amount"] == {"before": "10.00", "after": None}
