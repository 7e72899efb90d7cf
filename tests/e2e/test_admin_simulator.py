"""The campaign manager's console in a real browser: log in to /admin/, create a campaign with its rules through the
real form (inline rows added by the admin's own JavaScript), activate it, open its simulator, type the seed's order
"fruit, 1, 50.00" and read the two legs: issuer 10 % = 5.00, holder 5 % = 2.50."""

import os
import re
import time

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs a loop in this thread (see conftest)

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from accounts import roles
from accounts.models import MerchantStaff
from campaigns.models import Campaign
from tests.e2e.conftest import needs_chromium
from tests.factories.accounts import MerchantFactory, MerchantStaffFactory

pytestmark = [needs_chromium, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "s3cret-pass!"  # tests.factories.accounts.UserFactory's


@pytest.fixture
def manager():
    staff = MerchantStaffFactory(
        merchant=MerchantFactory(name="鲜果坊", is_verified=True),
        role=MerchantStaff.Role.CAMPAIGN_MANAGER,
        user__is_staff=True,
        user__username="manager",
    )
    staff.user.groups.add(Group.objects.get(name=roles.CAMPAIGN_MANAGER))
    return staff


def test_manager_creates_a_campaign_and_simulates_the_seed_order(open_tab, manager):
    started = time.monotonic()
    tab = open_tab("zh-hans", "admin")
    page = tab.page
    tab.page.set_viewport_size({"width": 1280, "height": 800})

    tab.go("/admin/login/?next=/admin/")
    page.fill("#id_username", "manager")
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.locator("input[type=submit]").click()
    assert page.url.endswith("/admin/")

    tab.go("/admin/campaigns/campaign/add/")
    today = timezone.localdate()
    page.fill("#id_name", "满200送红包 · 双向返利")
    page.fill("#id_description", "消费满200元得10元红包；再次消费满50元使用红包，商家获返10%，您获返5%。")
    page.fill("#id_starts_at_0", today.strftime("%Y-%m-%d"))
    page.fill("#id_starts_at_1", "00:00:00")
    page.fill("#id_ends_at_0", (today.replace(year=today.year + 1)).strftime("%Y-%m-%d"))
    page.fill("#id_ends_at_1", "00:00:00")
    page.locator("#earn_rules-group .add-row a").click()  # the admin's inline JavaScript adds the row
    page.select_option("#id_earn_rules-0-trigger", "purchase")
    page.fill("#id_earn_rules-0-threshold_amount", "200.00")
    page.fill("#id_earn_rules-0-packet_amount", "10.00")
    page.fill("#id_earn_rules-0-min_spend", "50.00")
    page.fill("#id_earn_rules-0-valid_days", "30")
    page.fill("#id_rebate_rule-0-issuer_rate", "10.00")
    page.fill("#id_rebate_rule-0-holder_rate", "5.00")
    tab.shoot("campaign-form", strict=False)
    with page.expect_navigation():
        page.locator('input[name="_save"]').click()
    assert page.locator(".errornote").count() == 0, page.inner_text("#content")

    campaign = Campaign.objects.get(name="满200送红包 · 双向返利")
    assert campaign.merchant == manager.merchant
    assert campaign.earn_rules.get().packet_amount == 10
    assert (campaign.rebate_rule.issuer_rate, campaign.rebate_rule.holder_rate) == (10, 5)

    # Activate it from the list (the simulator shows legs for a running campaign, as production would pay them).
    page.check(f'input[name="_selected_action"][value="{campaign.pk}"]')
    page.select_option('select[name="action"]', "activate")
    with page.expect_navigation():
        page.locator('button[name="index"]').click()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.ACTIVE
    tab.shoot("campaign-list", strict=False)

    tab.go(f"/admin/campaigns/campaign/{campaign.pk}/simulate/")
    page.fill("#id_lines", "fruit, 1, 50.00")
    with page.expect_navigation():
        page.locator("#simulator input[type=submit]").click()
    legs = page.eval_on_selector_all(
        "#legs tr", "rows => rows.slice(1).map(r => [...r.cells].slice(0, 2).map(c => c.innerText.trim()))"
    )
    assert sorted(legs) == [["holder", "2.50 CNY"], ["issuer", "5.00 CNY"]]
    assert re.search(r"200\.00", page.inner_text("#earn"))  # the order of 50.00 is below the 200.00 threshold
    tab.shoot("simulator", strict=False)

    assert tab.foreign_requests() == []
    print(f"\nadmin simulator: {time.monotonic() - started:.1f} s")
