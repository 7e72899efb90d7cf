"""Bans and appeals: a ban holds pending rebates and is recorded; a banned shopper meets the suspension page (both
languages) or `account_banned` on the API, can still appeal and log out; an appeal lands once and, accepted, lifts
the ban."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.authtoken.models import Token

from antifraud import services
from antifraud.models import Appeal, ReviewAction
from campaigns.models import Campaign
from rebates.models import Rebate
from tests.factories.accounts import DeviceFactory, UserFactory
from tests.factories.antifraud import AppealFactory, RiskPolicyFactory, platform_operator
from tests.factories.campaigns import two_way_campaign
from tests.rebates.test_lifecycle import credit, spent_order

pytestmark = pytest.mark.django_db

APPEAL = "/appeal/"


@pytest.fixture
def operator():
    return platform_operator()


@pytest.fixture
def banned(client):
    user = UserFactory(is_banned=True)
    client.force_login(user)
    return user


# --- the services ----------------------------------------------------------------------------------------------------


def test_a_ban_holds_every_pending_rebate_of_the_account_and_is_recorded(operator):
    campaign, shopper = two_way_campaign(), UserFactory()
    Campaign.objects.filter(pk=campaign.pk).update(hold_days=7)
    RiskPolicyFactory(campaign=campaign, trail_required=False)
    holder = credit(spent_order(campaign, shopper))["holder"]
    assert (holder.status, holder.held_for_review) == ("pending", False)

    assert services.user_ban(user_id=shopper.pk, actor=operator, reason="farmed packets with 5 accounts")
    assert not services.user_ban(user_id=shopper.pk, actor=operator, reason="again")

    shopper.refresh_from_db()
    assert shopper.is_banned
    assert Rebate.objects.get(pk=holder.pk).held_for_review
    assert Rebate.objects.get(role="issuer").held_for_review is False  # the merchant is not banned
    assert list(ReviewAction.objects.order_by("pk").values_list("action", "target", "actor")) == [
        ("ban_user", f"user:{shopper.pk}", operator.pk),
        ("hold", f"rebate:{holder.pk}", operator.pk),
    ]
    assert rebates_confirmed_later(days=8) == 1  # only the merchant's leg: the held one waits for a reviewer
    call_command("audit")


def rebates_confirmed_later(*, days: int) -> int:
    from rebates.services import rebates_confirm_due

    return rebates_confirm_due(now=timezone.now() + timedelta(days=days))


def test_device_bans_are_recorded_and_idempotent(operator):
    device = DeviceFactory()
    assert services.device_ban(device_id=device.pk, actor=operator, reason="emulator")
    assert not services.device_ban(device_id=device.pk, actor=operator, reason="emulator")
    assert services.device_unban(device_id=device.pk, actor=operator, reason="family tablet")
    device.refresh_from_db()
    assert not device.is_banned
    assert list(ReviewAction.objects.order_by("pk").values_list("action", flat=True)) == ["ban_device", "unban_device"]


# --- the suspension page and the API ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "expected", "absent"),
    [
        ("zh-hans", ["您的账号已被暂停", "申诉"], "Your account is suspended"),
        ("en", ["Your account is suspended", "Appeal the suspension"], "您的账号已被暂停"),
    ],
)
def test_a_banned_shopper_gets_the_suspension_page_on_every_page(client, banned, language, expected, absent):
    for page in ("/", "/packets/", "/wallet/", "/store/"):
        response = client.get(page, HTTP_ACCEPT_LANGUAGE=language)
        assert response.status_code == 403
        html = response.content.decode()
        assert all(text in html for text in expected), page
        assert absent not in html
        assert f'href="{APPEAL}"' in html


def test_the_appeal_page_and_logging_out_stay_reachable(client, banned):
    assert client.get(APPEAL).status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/packets/").status_code == 302  # signed out: the usual login redirect, no suspension page


def test_a_banned_shopper_gets_account_banned_on_the_api(client, banned):
    reply = client.get("/api/v1/wallet/")
    assert reply.status_code == 403
    body = reply.json()
    assert body["code"] == "account_banned"
    assert body["message"]
    assert body["details"]["appeal_url"].endswith(APPEAL)


def test_a_banned_accounts_token_gets_account_banned_too(client):
    user = UserFactory(is_banned=True)
    token = Token.objects.create(user=user)
    reply = client.get("/api/v1/wallet/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert (reply.status_code, reply.json()["code"]) == (403, "account_banned")


def test_accounts_in_good_standing_are_not_stopped(client):
    client.force_login(UserFactory())
    assert client.get("/packets/").status_code == 200
    assert client.get("/api/v1/wallet/").status_code == 200


# --- appeals ---------------------------------------------------------------------------------------------------------


def test_an_empty_appeal_shows_the_error_next_to_the_field(client, banned):
    response = client.post(APPEAL, {"text": "  ", "contact": ""})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="id_text_error"' in html and "Tell us what happened." in html
    assert not Appeal.objects.exists()


def test_a_double_submitted_appeal_lands_once(client, banned):
    form = {"text": "I shop here every week for my family.", "contact": "13800000009"}
    first = client.post(APPEAL, form)
    second = client.post(APPEAL, form)
    assert first.status_code == second.status_code == 302
    appeal = Appeal.objects.get()
    assert (appeal.user, appeal.status, appeal.contact) == (banned, "open", "13800000009")
    page = client.get(APPEAL).content.decode()
    assert 'id="appeal-open"' in page and "<textarea" not in page


def test_the_appeal_form_is_protected_against_cross_site_posts(banned):
    from django.test import Client

    forged = Client(enforce_csrf_checks=True)
    forged.force_login(banned)
    assert forged.post(APPEAL, {"text": "hello"}).status_code == 403
    assert not Appeal.objects.exists()


def test_appeals_land_in_the_operators_queue_open_first(client, operator):
    decided = AppealFactory(status=Appeal.Status.REJECTED, text="an old one")
    waiting = AppealFactory(text="please look again")
    client.force_login(operator)
    html = client.get("/admin/antifraud/appeal/").content.decode()
    assert html.index("please look again") < html.index("an old one")
    assert decided.pk and waiting.pk


def test_accepting_an_appeal_in_the_admin_lifts_the_ban(client, operator):
    appeal = AppealFactory()
    client.force_login(operator)
    client.post(
        "/admin/antifraud/appeal/",
        {"action": "accept_appeals", "_selected_action": [appeal.pk], "apply": "1", "reason": "Sorry, our mistake."},
    )
    appeal.refresh_from_db()
    appeal.user.refresh_from_db()
    assert (appeal.status, appeal.response, appeal.handled_by) == ("accepted", "Sorry, our mistake.", operator)
    assert not appeal.user.is_banned
    assert set(ReviewAction.objects.values_list("action", flat=True)) == {"accept_appeal", "unban_user"}


def test_a_rejected_appeal_keeps_the_ban_and_shows_the_response(client, operator):
    appeal = AppealFactory()
    services.appeal_decide(appeal_id=appeal.pk, actor=operator, accept=False, response="The orders were fake.")
    appeal.user.refresh_from_db()
    assert appeal.user.is_banned
    client.force_login(appeal.user)
    page = client.get(APPEAL).content.decode()
    assert "The orders were fake." in page and "<textarea" in page  # a new appeal may be sent
