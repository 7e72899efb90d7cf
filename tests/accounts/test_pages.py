"""Server-rendered account pages: login (username / phone / email), logout (POST only), the base layout."""

import pytest
from django.conf import settings
from django.contrib.auth import authenticate
from django.urls import reverse

from accounts.backends import normalize_phone
from tests.factories.accounts import UserFactory

PASSWORD = "s3cret-pass!"
LOGIN_URL = "/accounts/login/"

pytestmark = pytest.mark.django_db


def logged_in_user_id(client):
    return client.session.get("_auth_user_id")


# --- the login page in both languages ---------------------------------------------------------------------------


def test_login_url_is_the_named_route():
    assert reverse("accounts:login") == LOGIN_URL
    assert reverse("accounts:logout") == "/accounts/logout/"


def test_login_page_in_chinese_by_accept_language(client):
    response = client.get(LOGIN_URL, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="zh-hans">' in html
    assert "用户名、手机号或邮箱" in html
    assert "红包返利" in html
    assert "Username, phone or email" not in html


def test_browser_zh_cn_header_falls_back_to_simplified_chinese(client):
    response = client.get(LOGIN_URL, HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9,en;q=0.8")
    assert "用户名、手机号或邮箱" in response.content.decode()


def test_login_page_in_chinese_by_cookie(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    response = client.get(LOGIN_URL, HTTP_ACCEPT_LANGUAGE="en")
    assert "用户名、手机号或邮箱" in response.content.decode()


def test_login_page_in_english(client):
    response = client.get(LOGIN_URL, HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="en">' in html
    assert "Username, phone or email" in html
    assert "Red Packet Rebates" in html
    assert "用户名、手机号或邮箱" not in html


def test_chinese_is_the_default_when_the_browser_says_nothing(client, settings):
    settings.LANGUAGE_CODE = "zh-hans"  # the real default; the test suite's conftest switches it to English
    response = client.get(LOGIN_URL)
    assert "用户名、手机号或邮箱" in response.content.decode()


def test_login_form_has_labels_csrf_and_no_login_link_to_itself(client):
    html = client.get(LOGIN_URL, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<label for="id_username">' in html
    assert '<label for="id_password">' in html
    assert "csrfmiddlewaretoken" in html
    assert 'autocomplete="current-password"' in html
    assert f'href="{LOGIN_URL}?next=' not in html


# --- signing in ---------------------------------------------------------------------------------------------------


def test_settings_use_the_username_phone_email_backend():
    # config/settings.py: AUTHENTICATION_BACKENDS = ["accounts.backends.UsernamePhoneEmailBackend"]
    assert "accounts.backends.UsernamePhoneEmailBackend" in settings.AUTHENTICATION_BACKENDS


def test_login_by_phone(client):
    user = UserFactory(phone="13900001111")
    response = client.post(LOGIN_URL, {"username": "13900001111", "password": PASSWORD})
    assert response.status_code == 302
    assert response.url == "/"
    assert logged_in_user_id(client) == str(user.pk)


def test_login_by_phone_written_with_country_code_and_dashes(client):
    user = UserFactory(phone="13900002222")
    response = client.post(LOGIN_URL, {"username": "+86 139-0000-2222", "password": PASSWORD})
    assert response.status_code == 302
    assert logged_in_user_id(client) == str(user.pk)


def test_login_by_email_ignores_case(client):
    user = UserFactory(email="Mei.Lin@Example.test")
    response = client.post(LOGIN_URL, {"username": "mei.lin@example.TEST", "password": PASSWORD})
    assert response.status_code == 302
    assert logged_in_user_id(client) == str(user.pk)


def test_login_by_username(client):
    user = UserFactory(username="meilin")
    response = client.post(LOGIN_URL, {"username": "meilin", "password": PASSWORD})
    assert response.status_code == 302
    assert logged_in_user_id(client) == str(user.pk)


def test_login_follows_a_safe_next_and_refuses_an_external_one(client):
    UserFactory(phone="13900003333")
    response = client.post(LOGIN_URL, {"username": "13900003333", "password": PASSWORD, "next": "/wallet/"})
    assert response.url == "/wallet/"
    client.logout()
    response = client.post(
        LOGIN_URL, {"username": "13900003333", "password": PASSWORD, "next": "https://evil.example/steal"}
    )
    assert response.url == "/"


def test_login_page_carries_next_into_the_form(client):
    html = client.get(LOGIN_URL + "?next=/packets/").content.decode()
    assert 'name="next" value="/packets/"' in html


def test_signed_in_user_visiting_login_is_sent_on(client):
    user = UserFactory()
    client.force_login(user)
    response = client.get(LOGIN_URL)
    assert response.status_code == 302


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "Wrong username, phone, email or password. Please try again."),
        ("zh-hans", "用户名、手机号、邮箱或密码错误，请重试。"),
    ],
)
def test_wrong_password_shows_an_error_in_the_form_in_the_chosen_language(client, language, message):
    UserFactory(phone="13900004444")
    response = client.post(
        LOGIN_URL, {"username": "13900004444", "password": "not-the-password"}, HTTP_ACCEPT_LANGUAGE=language
    )
    assert response.status_code == 200
    assert logged_in_user_id(client) is None
    html = response.content.decode()
    form_html = html[html.index('<form class="form"') : html.index("</form>", html.index('<form class="form"'))]
    assert 'class="alert alert--error" role="alert"' in form_html
    assert message in form_html
    # what the user typed is kept, the password is not
    assert 'value="13900004444"' in form_html
    assert "not-the-password" not in html


@pytest.mark.parametrize(("language", "message"), [("en", "This field is required."), ("zh-hans", "该字段是必填项。")])
def test_missing_fields_show_errors_next_to_each_field(client, language, message):
    response = client.post(LOGIN_URL, {"username": "", "password": ""}, HTTP_ACCEPT_LANGUAGE=language)
    html = response.content.decode()
    assert f'<p class="field__error" id="id_username_error">{message}</p>' in html
    assert f'<p class="field__error" id="id_password_error">{message}</p>' in html
    assert 'aria-invalid="true"' in html


def test_unknown_account_is_refused_like_a_wrong_password(client):
    response = client.post(LOGIN_URL, {"username": "13999999999", "password": PASSWORD}, HTTP_ACCEPT_LANGUAGE="en")
    assert "Wrong username, phone, email or password." in response.content.decode()


def test_banned_user_signs_in_to_the_suspension_notice(client):
    banned = UserFactory(phone="13900005555", is_banned=True)
    response = client.post(LOGIN_URL, {"username": "13900005555", "password": PASSWORD}, follow=True)
    assert logged_in_user_id(client) == str(banned.pk)  # to read why, and to appeal (antifraud/middleware.py)
    assert response.status_code == 403
    assert 'href="/appeal/"' in response.content.decode()


def test_inactive_user_cannot_sign_in(client):
    UserFactory(phone="13900006666", is_active=False)
    client.post(LOGIN_URL, {"username": "13900006666", "password": PASSWORD})
    assert logged_in_user_id(client) is None


# --- the backend on its own ---------------------------------------------------------------------------------------


def test_backend_prefers_username_over_someone_elses_phone(settings):
    settings.AUTHENTICATION_BACKENDS = ["accounts.backends.UsernamePhoneEmailBackend"]
    owner_of_name = UserFactory(username="13900007777", phone="13800000001")
    UserFactory(phone="13900007777")
    assert authenticate(username="13900007777", password=PASSWORD) == owner_of_name


def test_backend_refuses_an_email_shared_by_two_accounts(settings):
    settings.AUTHENTICATION_BACKENDS = ["accounts.backends.UsernamePhoneEmailBackend"]
    UserFactory(email="shared@example.test")
    UserFactory(email="shared@example.test")
    assert authenticate(username="shared@example.test", password=PASSWORD) is None


def test_backend_needs_both_identifier_and_password(settings):
    settings.AUTHENTICATION_BACKENDS = ["accounts.backends.UsernamePhoneEmailBackend"]
    UserFactory(phone="13900008888")
    assert authenticate(username="", password=PASSWORD) is None
    assert authenticate(username="13900008888", password=None) is None
    assert authenticate(username="   ", password=PASSWORD) is None


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("13800000000", "13800000000"), ("+86 138 0000 0000", "13800000000"), ("(138)-0000-0000", "13800000000")],
)
def test_normalize_phone(typed, expected):
    assert normalize_phone(typed) == expected


# --- signing out --------------------------------------------------------------------------------------------------


def test_logout_refuses_get(client):
    client.force_login(UserFactory())
    response = client.get("/accounts/logout/")
    assert response.status_code == 405
    assert logged_in_user_id(client) is not None


def test_logout_by_post(client):
    client.force_login(UserFactory())
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response.url == "/"
    assert logged_in_user_id(client) is None


def test_logout_needs_the_csrf_token(client):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(UserFactory())
    assert strict.post("/accounts/logout/").status_code == 403


# --- the base layout ----------------------------------------------------------------------------------------------


def test_home_page_renders_the_layout_for_visitors(client):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    html = response.content.decode()
    for href in ('href="/"', 'href="/packets/"', 'href="/wallet/"', 'href="/store/"'):
        assert href in html
    assert '<a href="/" aria-current="page">Home</a>' in html
    assert f'href="{LOGIN_URL}?next=/"' in html
    assert 'action="/i18n/setlang/" method="post"' in html
    assert "/static/css/app.css" in html
    assert "/static/js/app.js" in html
    assert "//cdn" not in html and "https://" not in html  # no third-party assets


def test_home_page_in_chinese(client):
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "消费一次，双向返利" in html
    assert ">红包</a>" in html  # the navigation's "my packets" tab
    assert "商家返利（10%）" in html


def test_home_page_for_a_signed_in_user_offers_a_post_logout(client):
    user = UserFactory(phone="13900009999")
    client.force_login(user)
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<form action="/accounts/logout/" method="post">' in html
    assert "13900009999" in html
    assert "Log out" in html
    assert f'href="{LOGIN_URL}?next=' not in html


def test_messages_are_shown(rf):
    from django.contrib import messages
    from django.contrib.auth.models import AnonymousUser
    from django.contrib.messages.storage.cookie import CookieStorage

    from common.views import home

    request = rf.get("/")
    request.user = AnonymousUser()
    request._messages = CookieStorage(request)
    messages.success(request, "Packet claimed.")
    messages.error(request, "Budget exhausted.")
    html = home(request).content.decode()
    assert 'class="alert alert--success" role="status"' in html
    assert "Packet claimed." in html
    assert 'class="alert alert--error" role="alert"' in html
