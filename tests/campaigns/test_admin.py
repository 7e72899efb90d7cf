from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from accounts import roles
from accounts.models import MerchantStaff
from campaigns.models import Campaign
from campaigns.selectors import campaign_budget_account
from campaigns.services import merchant_deposit
from tests.factories.accounts import MerchantStaffFactory, UserFactory
from tests.factories.campaigns import CampaignFactory, two_way_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(client):
    staff = MerchantStaffFactory(role=MerchantStaff.Role.CAMPAIGN_MANAGER, user__is_staff=True)
    staff.user.groups.add(Group.objects.get(name=roles.CAMPAIGN_MANAGER))
    client.force_login(staff.user)
    client.merchant = staff.merchant
    return client


def campaign_form(**overrides) -> dict:
    now = timezone.now()
    data = {
        "name": "Spring",
        "description": "",
        "starts_at_0": now.strftime("%Y-%m-%d"),
        "starts_at_1": "00:00:00",
        "ends_at_0": (now + timedelta(days=10)).strftime("%Y-%m-%d"),
        "ends_at_1": "00:00:00",
        "participants": "merchant_consumer",
        "user_scope": "all",
        "per_user_limit": "0",
        "packet_limit": "0",
        "daily_budget_cap": "0.00",
        "category_rates-TOTAL_FORMS": "0",
        "category_rates-INITIAL_FORMS": "0",
        "multiplier_windows-TOTAL_FORMS": "0",
        "multiplier_windows-INITIAL_FORMS": "0",
        "earn_rules-TOTAL_FORMS": "1",
        "earn_rules-INITIAL_FORMS": "0",
        "earn_rules-0-trigger": "purchase",
        "earn_rules-0-threshold_amount": "200.00",
        "earn_rules-0-packet_amount": "10.00",
        "earn_rules-0-min_spend": "50.00",
        "earn_rules-0-valid_days": "30",
        "earn_rules-0-allowed_categories": "",
        "rebate_rule-TOTAL_FORMS": "1",
        "rebate_rule-INITIAL_FORMS": "0",
        "rebate_rule-0-issuer_mode": "rate",
        "rebate_rule-0-issuer_rate": "10.00",
        "rebate_rule-0-issuer_fixed": "0.00",
        "rebate_rule-0-holder_mode": "rate",
        "rebate_rule-0-holder_rate": "5.00",
        "rebate_rule-0-holder_fixed": "0.00",
        "rebate_rule-0-base": "gross",
        "rebate_rule-0-holder_form": "cash",
        "rebate_rule-0-points_per_cny": "100",
        "rebate_rule-0-issuer_funding": "campaign_budget",
        "rebate_rule-0-holder_funding": "campaign_budget",
    }
    data.update(overrides)
    return data


def test_manager_creates_a_campaign_with_rules_for_their_own_merchant(manager):
    reply = manager.post("/admin/campaigns/campaign/add/", campaign_form())
    assert reply.status_code == 302, reply.context["errors"] if reply.context else reply
    campaign = Campaign.objects.get(name="Spring")
    assert campaign.merchant == manager.merchant
    assert campaign.status == "draft"
    assert campaign.rebate_rule.holder_rate == Decimal("5.00")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("rebate_rule-0-issuer_rate", "101", "A rate must be between 0 and 100 %."),
        ("rebate_rule-0-issuer_rate", "-1", "Enter a plain decimal number with at most two decimals, e.g. 12.50."),
        ("earn_rules-0-packet_amount", "1e3", "Enter a plain decimal number with at most two decimals, e.g. 12.50."),
        ("daily_budget_cap", "-0.00", "Enter a plain decimal number with at most two decimals, e.g. 12.50."),
        ("starts_at_0", "0808-04-18", "Enter a date in the years 2000 to 2100."),
        ("ends_at_0", "2101-01-01", "Enter a date in the years 2000 to 2100."),
        ("earn_rules-0-packet_amount", "0", "The packet amount must be positive."),
        ("ends_at_0", "2000-01-01", "The end must be after the start."),
    ],
)
def test_invalid_campaign_is_refused_with_an_explanation(manager, field, value, message):
    reply = manager.post("/admin/campaigns/campaign/add/", campaign_form(**{field: value}))
    assert reply.status_code == 200
    assert message in reply.content.decode()
    assert not Campaign.objects.exists()


def test_manager_sees_only_their_merchants_campaigns(manager):
    mine = CampaignFactory(merchant=manager.merchant)
    theirs = CampaignFactory()
    page = manager.get("/admin/campaigns/campaign/").content.decode()
    assert mine.name in page
    assert theirs.name not in page
    assert manager.get(f"/admin/campaigns/campaign/{theirs.pk}/change/").status_code == 302  # redirected away


def test_activate_action_requires_a_rebate_rule_and_follows_the_state_machine(manager):
    ready = two_way_campaign(merchant=manager.merchant, budget="0")
    Campaign.objects.filter(pk=ready.pk).update(status="draft")
    bare = CampaignFactory(merchant=manager.merchant, status="draft")
    manager.post(
        "/admin/campaigns/campaign/",
        {"action": "activate", "_selected_action": [ready.pk, bare.pk]},
        follow=True,
    )
    assert Campaign.objects.get(pk=ready.pk).status == "active"
    assert Campaign.objects.get(pk=bare.pk).status == "draft"


def test_fund_view_moves_money_once_per_form_token(manager):
    campaign = two_way_campaign(merchant=manager.merchant, budget="0")
    merchant_deposit(merchant=manager.merchant, amount=Decimal("500.00"), idempotency_key="dep")
    url = f"/admin/campaigns/campaign/{campaign.pk}/fund/"
    for _ in range(2):  # a double-submitted form
        manager.post(url, {"amount": "300.00", "token": "tok-1"})
    assert campaign_budget_account(campaign).balance == Decimal("300.00")


def test_fund_view_refuses_more_than_the_deposit_holds(manager):
    campaign = two_way_campaign(merchant=manager.merchant, budget="0")
    reply = manager.post(f"/admin/campaigns/campaign/{campaign.pk}/fund/", {"amount": "1.00", "token": "t"})
    assert reply.status_code == 200
    assert "insufficient funds" in reply.content.decode()
    assert campaign_budget_account(campaign).balance == Decimal("0.00")


def test_platform_campaign_cannot_pay_an_issuer_rebate(client):
    operator = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(operator)
    reply = client.post("/admin/campaigns/campaign/add/", campaign_form(merchant=""))
    assert "A platform campaign has no merchant issuer to pay" in reply.content.decode()


def test_simulator_shows_the_seed_legs_with_reasons_and_writes_nothing(manager):
    from packets.models import Order
    from rebates.models import Entry

    campaign = two_way_campaign(merchant=manager.merchant)
    entries = Entry.objects.count()
    reply = manager.post(
        f"/admin/campaigns/campaign/{campaign.pk}/simulate/",
        {"lines": "fruit, 1, 50.00", "trigger": "purchase", "prior_orders": "0"},
    )
    html = reply.content.decode()
    assert reply.status_code == 200
    assert "5.00 CNY" in html and "2.50 CNY" in html
    assert "10.00% of fruit 50.00" in html
    assert "order 50.00 &lt; threshold 200.00" in html
    assert (Entry.objects.count(), Order.objects.count()) == (entries, 0)


def test_simulator_refuses_the_packet_at_another_merchant_as_production_does(manager):
    from tests.factories.accounts import MerchantFactory

    campaign, other = two_way_campaign(merchant=manager.merchant), MerchantFactory()
    order = {"lines": "fruit, 1, 50.00", "trigger": "purchase", "prior_orders": "0"}
    url = f"/admin/campaigns/campaign/{campaign.pk}/simulate/"

    here = manager.post(url, {**order, "merchant": str(manager.merchant.pk)}).content.decode()
    elsewhere = manager.post(url, {**order, "merchant": str(other.pk)}).content.decode()

    assert "The packet applies: 10.00 off." in here
    assert "packet_not_accepted_here" in elsewhere and "The packet applies" not in elsewhere
    assert "No rebate legs." in elsewhere


def test_simulator_rejects_bad_lines_clearly(manager):
    campaign = two_way_campaign(merchant=manager.merchant)
    reply = manager.post(
        f"/admin/campaigns/campaign/{campaign.pk}/simulate/",
        {"lines": "fruit, -1, 5.001", "trigger": "purchase", "prior_orders": "0"},
    )
    assert "Line 1: write category, quantity" in reply.content.decode()


@pytest.mark.parametrize("price", ["1e3", "-0.00", "0", "+1", "12.345"])
def test_simulator_refuses_a_line_price_outside_the_grammar_or_not_positive(manager, price):
    campaign = two_way_campaign(merchant=manager.merchant)
    reply = manager.post(
        f"/admin/campaigns/campaign/{campaign.pk}/simulate/",
        {"lines": f"fruit, 1, {price}", "trigger": "purchase", "prior_orders": "0"},
    )
    assert "Line 1: write category, quantity" in reply.content.decode()


def test_simulator_refuses_a_time_outside_the_years_at_the_field(manager):
    campaign = two_way_campaign(merchant=manager.merchant)
    reply = manager.post(
        f"/admin/campaigns/campaign/{campaign.pk}/simulate/",
        {"lines": "fruit, 1, 50.00", "trigger": "purchase", "prior_orders": "0", "at": "1999-12-31 23:00"},
    )
    assert reply.context["form"].errors == {"at": ["Enter a date in the years 2000 to 2100."]}


def test_overlapping_multiplier_windows_are_refused(manager):
    data = campaign_form(
        **{
            "multiplier_windows-TOTAL_FORMS": "2",
            "multiplier_windows-INITIAL_FORMS": "0",
            "multiplier_windows-0-starts_at_0": "2030-01-01",
            "multiplier_windows-0-starts_at_1": "00:00:00",
            "multiplier_windows-0-ends_at_0": "2030-01-03",
            "multiplier_windows-0-ends_at_1": "00:00:00",
            "multiplier_windows-0-factor": "2",
            "multiplier_windows-1-starts_at_0": "2030-01-02",
            "multiplier_windows-1-starts_at_1": "00:00:00",
            "multiplier_windows-1-ends_at_0": "2030-01-04",
            "multiplier_windows-1-ends_at_1": "00:00:00",
            "multiplier_windows-1-factor": "3",
        }
    )
    reply = manager.post("/admin/campaigns/campaign/add/", data)
    assert "Multiplier windows must not overlap" in reply.content.decode()
    assert not Campaign.objects.exists()


def test_change_page_shows_counters_and_burn_down(manager):
    campaign = two_way_campaign(merchant=manager.merchant, budget="300.00")
    html = manager.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert "¥300.00" in html
    assert "rebates being computed" in html


def test_public_rules_page_shows_organiser_verification_and_rules_in_both_languages(client):
    campaign = two_way_campaign()
    english = client.get(f"/campaigns/{campaign.pk}/rules/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert campaign.merchant.name in english and "Verified" in english
    assert "Spend ¥200.00 or more in one order" in english
    assert "10.00% of the order" in english
    chinese = client.get(f"/campaigns/{campaign.pk}/rules/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "已认证" in chinese


def test_draft_campaign_has_no_public_page(client):
    assert client.get(f"/campaigns/{CampaignFactory(status='draft').pk}/rules/").status_code == 404


def test_admin_edits_are_recorded_in_the_rule_history(manager):
    from campaigns.models import RuleChange

    manager.post("/admin/campaigns/campaign/add/", campaign_form())
    campaign = Campaign.objects.get(name="Spring")
    rule = campaign.rebate_rule
    data = campaign_form(
        **{
            "rebate_rule-INITIAL_FORMS": "1",
            "rebate_rule-0-id": str(rule.pk),
            "rebate_rule-0-campaign": str(campaign.pk),
            "rebate_rule-0-holder_rate": "6.00",
            "earn_rules-INITIAL_FORMS": "1",
            "earn_rules-0-id": str(campaign.earn_rules.get().pk),
            "earn_rules-0-campaign": str(campaign.pk),
        }
    )
    manager.post(f"/admin/campaigns/campaign/{campaign.pk}/change/", data)
    change = RuleChange.objects.filter(campaign=campaign, target="rebate_rule").first()
    assert change.actor.pk == int(manager.session["_auth_user_id"])
    assert change.changes["holder_rate"] == {"before": "5.00", "after": "6.00"}
