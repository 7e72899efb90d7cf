"""Sign-up by phone or email through a share link, attribution of the inviter, the packets it issues; the profile."""

import threading
import uuid

import pytest
from django.contrib.auth import authenticate
from django.db import connections
from django.test import Client

from accounts import services, views
from accounts.models import User
from packets.models import Packet
from tests.e2e.seed import event_campaign
from tests.factories.accounts import MerchantFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/accounts/signup/"
PASSWORD = "hongbao-2024!"


@pytest.fixture(autouse=True)
def _no_signup_limit(monkeypatch):
    # Every test signs up from 127.0.0.1; the per-address limit has its own test.
    monkeypatch.setattr(views, "SIGNUP_RATE", None)


def form(account: str, *, password: str = PASSWORD, confirm: str | None = None, **extra) -> dict:
    return {"account": account, "password1": password, "password2": confirm or password, **extra}


def errors_of(response, field: str) -> list[str]:
    return [str(e) for e in response.context["form"].errors.get(field, [])]


# --- the page -----------------------------------------------------------------------------------------------------


def test_a_share_link_fills_in_the_code_and_names_the_inviter_masked(client):
    inviter = UserFactory(phone="13800138000")
    html = client.get(URL, {"share": inviter.invite_code, "ch": "wechat"}, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "138****8000" in html and "13800138000" not in html
    assert f'value="{inviter.invite_code}"' in html
    assert 'name="ch" value="wechat"' in html
    assert 'autocomplete="new-password"' in html


def test_the_page_in_chinese_lists_the_campaign_with_organiser_and_rules(client):
    campaign = event_campaign(merchant=MerchantFactory(name="鲜果坊", is_verified=True))
    html = client.get(URL, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "注册" in html and "手机号或邮箱" in html
    assert f'href="/campaigns/{campaign.pk}/rules/"' in html
    assert "鲜果坊" in html and 'data-verified="yes"' in html


def test_a_signed_in_user_is_sent_home_instead(client):
    user = UserFactory()
    client.force_login(user)
    response = client.get(URL, {"invite": user.invite_code})
    assert response.status_code == 302 and response.url == "/"
    user.refresh_from_db()
    assert user.invited_by is None


# --- signing up ---------------------------------------------------------------------------------------------------


def test_sign_up_through_a_share_link_attributes_the_inviter_and_issues_all_three_packets(client):
    campaign = event_campaign()
    inviter = UserFactory()

    page = client.get(URL, {"share": inviter.invite_code, "ch": "wechat"})
    initial = page.context["form"].initial
    assert initial == {"invite_code": inviter.invite_code, "ch": "wechat"}
    response = client.post(URL, form("13912345678", **initial))  # what the browser sends back

    assert response.status_code == 302 and response.url == "/accounts/welcome/"
    user = User.objects.get(phone="13912345678")
    assert user.invited_by == inviter
    assert client.session["_auth_user_id"] == str(user.pk)
    mine = {p.channel: p for p in Packet.objects.filter(holder=user, campaign=campaign)}
    assert set(mine) == {"registration", "referral"}
    assert str(mine["registration"].amount) == "5.00" and mine["registration"].issuer_user is None
    assert str(mine["referral"].amount) == "6.00" and mine["referral"].issuer_user == inviter  # earns the issuer leg
    shared = Packet.objects.get(holder=inviter)
    assert (shared.channel, str(shared.amount)) == ("share", "3.00")

    welcome = client.get(response.url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-received="2"' in welcome
    assert mine["registration"].code in welcome and mine["referral"].code in welcome
    assert shared.code not in welcome


def test_the_typed_invite_code_attributes_too(client):
    event_campaign()
    inviter = UserFactory()
    client.post(URL, form("13912340000", invite_code=f" {inviter.invite_code} "))
    assert User.objects.get(phone="13912340000").invited_by == inviter
    assert Packet.objects.filter(holder=inviter, channel="share").count() == 1


def test_sign_up_without_an_inviter_gets_only_the_newbie_packet(client):
    event_campaign()
    client.post(URL, form("13912340001"))
    user = User.objects.get(phone="13912340001")
    assert user.invited_by is None
    assert list(Packet.objects.filter(holder=user).values_list("channel", flat=True)) == ["registration"]


def test_sign_up_with_no_campaign_running_still_creates_the_account(client):
    response = client.post(URL, form("13912340002"))
    assert response.status_code == 302
    html = client.get(response.url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-received="0"' in html


def test_sign_up_by_email_then_log_in_with_it(client):
    response = client.post(URL, form("Mei.Lin@Example.TEST"))
    assert response.status_code == 302
    user = User.objects.get(email__iexact="mei.lin@example.test")
    assert user.phone is None and user.email == "Mei.Lin@example.test"  # the domain is normalized
    assert authenticate(username="mei.lin@example.test", password=PASSWORD) == user


def test_a_phone_with_country_code_spaces_and_dashes_is_normalized(client):
    client.post(URL, form("+86 139-1234-0003"))
    user = User.objects.get(phone="13912340003")
    assert authenticate(username="13912340003", password=PASSWORD) == user


def test_next_is_kept_through_sign_up(client):
    response = client.post(URL, form("13912340004", next="/claim/"))
    assert response.url == "/accounts/welcome/?next=%2Fclaim%2F"
    html = client.get(response.url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'href="/claim/"' in html
    client.logout()
    evil = client.post(URL, form("13912340005", next="https://evil.example/"))
    assert evil.url == "/accounts/welcome/"


# --- errors next to the fields, in the user's language -------------------------------------------------------------


@pytest.mark.parametrize("phone", ["12345678901", "1391234567", "139123456789", "23912345678", "139-abc-5678"])
def test_a_phone_that_is_not_a_mainland_mobile_is_refused(client, phone):
    response = client.post(URL, form(phone), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert errors_of(response, "account") == [
        "Enter an 11-digit mainland China mobile number starting with 13–19, e.g. 13812345678."
    ]
    assert not User.objects.exists()


def test_phone_errors_in_chinese_sit_next_to_the_field(client):
    html = client.post(URL, form("12345"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    field = html[html.index('id="id_account"') :]
    assert 'aria-invalid="true"' in html[html.index("<input", html.index('for="id_account"')) :][:400]
    assert "请输入以 13–19 开头的 11 位中国大陆手机号" in field[: field.index('for="id_password1"')]


def test_a_duplicate_phone_is_refused_with_a_message_in_both_languages(client):
    UserFactory(phone="13912345678")
    en = client.post(URL, form("139 1234 5678"), HTTP_ACCEPT_LANGUAGE="en")
    assert en.status_code == 400
    assert errors_of(en, "account") == [
        "This phone number is already registered. Log in instead, or use another number."
    ]
    zh = client.post(URL, form("13912345678"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "该手机号已注册" in zh.content.decode()
    assert User.objects.filter(phone="13912345678").count() == 1


def test_a_phone_that_is_somebodys_username_is_taken_too(client):
    UserFactory(username="13912345678", phone=None)  # the login box tries usernames first
    response = client.post(URL, form("13912345678"))
    assert response.status_code == 400 and errors_of(response, "account")


def test_a_duplicate_email_is_refused_whatever_its_case(client):
    UserFactory(email="mei@example.test")
    response = client.post(URL, form("MEI@example.test"), HTTP_ACCEPT_LANGUAGE="en")
    assert errors_of(response, "account") == [
        "This email address is already registered. Log in instead, or use another address."
    ]


def test_an_invalid_email_is_refused(client):
    response = client.post(URL, form("mei@"), HTTP_ACCEPT_LANGUAGE="en")
    assert errors_of(response, "account") == ["Enter a valid email address, e.g. name@example.com."]


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("12345678", "This password is entirely numeric."),
        ("password", "This password is too common."),
        ("hb-1", "This password is too short. It must contain at least 8 characters."),
    ],
)
def test_a_weak_password_is_refused_next_to_the_password(client, password, message):
    response = client.post(URL, form("13912340006", password=password), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert message in errors_of(response, "password1")
    assert not User.objects.exists()


def test_a_weak_password_message_in_chinese(client):
    html = client.post(URL, form("13912340006", password="12345678"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "密码只包含数字。" in html


def test_passwords_that_differ_are_refused_next_to_the_confirmation(client):
    response = client.post(URL, form("13912340007", confirm="hongbao-2025!"), HTTP_ACCEPT_LANGUAGE="en")
    assert errors_of(response, "password2") == ["The two passwords do not match."]


def test_an_unknown_or_banned_invite_code_is_refused(client):
    banned = UserFactory(is_banned=True)
    for code in ("nope", banned.invite_code):
        response = client.post(URL, form("13912340008", invite_code=code), HTTP_ACCEPT_LANGUAGE="en")
        assert errors_of(response, "invite_code") == [
            "No account has this invite code. Check it, or leave the field empty."
        ]
    assert not User.objects.filter(phone="13912340008").exists()


def test_too_many_sign_ups_from_one_address_are_refused(client, monkeypatch):
    monkeypatch.setattr(views, "SIGNUP_RATE", "2/h")
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7"
    codes = []
    for i in range(3):
        client.logout()
        codes.append(client.post(URL, form(f"1391234001{i}"), REMOTE_ADDR=address).status_code)
    assert codes == [302, 302, 429]
    assert User.objects.count() == 2


# --- one invitee has one inviter; nobody invites themselves ---------------------------------------------------------


def test_self_referral_is_impossible():
    user = UserFactory()
    with pytest.raises(services.InviteRefused) as refused:
        services.user_attribute_inviter(user=user, inviter=user)
    assert refused.value.code == "self_referral"
    user.refresh_from_db()
    assert user.invited_by is None


def test_an_invitee_keeps_their_first_inviter():
    first, second, invitee = UserFactory(), UserFactory(), UserFactory()
    services.user_attribute_inviter(user=invitee, inviter=first)
    with pytest.raises(services.InviteRefused) as refused:
        services.user_attribute_inviter(user=invitee, inviter=second)
    assert refused.value.code == "already_invited"
    invitee.refresh_from_db()
    assert invitee.invited_by == first


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sign_ups_with_one_email_make_one_account():
    barrier = threading.Barrier(2)
    results = []

    def sign_up():
        try:
            barrier.wait(timeout=10)
            try:
                services.user_register(email="same@example.test", password=PASSWORD)
                results.append("ok")
            except services.EmailTaken:
                results.append("taken")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sign_up) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) == ["ok", "taken"]
    assert User.objects.filter(email__iexact="same@example.test").count() == 1


# --- profile ------------------------------------------------------------------------------------------------------


def test_profile_saves_the_region_without_administrative_suffixes(client):
    user = UserFactory()
    client.force_login(user)
    response = client.post("/accounts/profile/", {"province": "广东", "city": " 深圳市 "})
    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.province, user.city) == ("广东", "深圳")
    html = client.get("/accounts/profile/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<option value="广东" selected>' in html and 'value="深圳"' in html
    assert user.invite_code in html


def test_profile_needs_the_province_of_a_city_and_a_login(client):
    assert client.get("/accounts/profile/").status_code == 302
    client.force_login(UserFactory())
    response = client.post("/accounts/profile/", {"province": "", "city": "深圳"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert errors_of(response, "province") == ["Choose the province of your city."]
    assert client.post("/accounts/profile/", {"province": "火星", "city": ""}).status_code == 400


def test_the_login_page_offers_sign_up_keeping_next(client):
    html = client.get("/accounts/login/?next=/claim/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'href="/accounts/signup/?next=/claim/"' in html or 'href="/accounts/signup/?next=%2Fclaim%2F"' in html


def test_sign_up_passes_the_csrf_check_of_a_real_browser():
    client = Client(enforce_csrf_checks=True)
    page = client.get(URL)
    token = page.cookies["csrftoken"].value
    response = client.post(URL, {**form("13912340009"), "csrfmiddlewaretoken": token})
    assert response.status_code == 302
