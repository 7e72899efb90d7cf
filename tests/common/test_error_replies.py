"""Every error under /api/ is the JSON `{code, message, details}` (404, 405, 413, 414, 500, and 503 + Retry-After when
PostgreSQL or the broker is really unreachable); pages get the branded 404/414/500/503 pages in the visitor's language,
and the 500/503 pages render while the database is down."""

import socket
import subprocess
import time
import uuid

import pytest
import requests
from django.conf import settings
from django.db import connection
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from config import runstack
from packets.models import Order
from tests.factories.accounts import MerchantStaffFactory, UserFactory

from ..packets.helpers import order_body

pytestmark = pytest.mark.urls("tests.common.urls_failing")

ZH = "zh-hans"


def closed_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def web():
    """A browser-like client that gets the replies a visitor would (the test client re-raises view exceptions by
    default)."""
    return Client(raise_request_exception=False)


@pytest.fixture
def api():
    return APIClient(raise_request_exception=False)


def assert_json_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == code
    assert body["message"]
    return body


def assert_page(response, status: int, *texts: str) -> str:
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert 'name="viewport" content="width=device-width' in html  # laid out for a phone, not a desktop page
    assert "/static/css/app.css" in html  # the site's own look
    for text in texts:
        assert text in html
    return html


# --- 404 ------------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_unknown_api_route_is_a_json_404(api):
    body = assert_json_error(api.get("/api/v1/no-such-thing/", HTTP_ACCEPT_LANGUAGE="en"), 404, "not_found")
    assert body["message"] == "Nothing is at this address."


@pytest.mark.django_db
def test_an_unknown_api_route_answers_in_chinese_by_default(api, settings):
    settings.LANGUAGE_CODE = ZH
    body = assert_json_error(api.get("/api/v1/no-such-thing/"), 404, "not_found")
    assert body["message"] == "此地址下没有内容。"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "heading"), [("zh-hans,zh;q=0.9", "页面不存在"), ("en", "Page not found")], ids=["zh", "en"]
)
def test_an_unknown_page_is_the_branded_404_page(web, language, heading):
    html = assert_page(web.get("/no-such-page/", HTTP_ACCEPT_LANGUAGE=language), 404, heading)
    assert html.count('class="brand"') == 1


# --- 405 ------------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_wrong_method_on_an_api_view_is_a_json_405(merchant_client):
    merchant_client.raise_request_exception = False
    response = merchant_client.delete("/api/v1/orders/")
    assert_json_error(response, 405, "method_not_allowed")
    assert "POST" in response["Allow"]


@pytest.mark.django_db
def test_a_wrong_method_on_a_plain_django_view_under_api_is_a_json_405(api):
    response = api.get("/api/v1/test/post-only/", HTTP_ACCEPT_LANGUAGE="en")
    body = assert_json_error(response, 405, "method_not_allowed")
    assert body["message"] == "This method is not allowed here."
    assert response["Allow"] == "POST"


# --- 413 ------------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_oversized_body_is_a_json_413_before_authentication_and_writes_nothing(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    before = Order.objects.count()
    response = api.post(
        "/api/v1/orders/", data='{"x": "' + "a" * 5000 + '"}', content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert_json_error(response, 413, "body_too_large")
    assert Order.objects.count() == before


@pytest.mark.django_db
def test_an_oversized_body_to_an_unknown_api_route_is_a_json_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = api.post("/api/v1/nowhere/", data="x" * 5000, content_type="application/json")
    assert_json_error(response, 413, "body_too_large")


# --- 414 ------------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_over_long_api_uri_is_a_json_414(api):
    response = api.get("/api/v1/orders/?status=" + "x" * settings.MAX_URI_LENGTH, HTTP_ACCEPT_LANGUAGE="en")
    body = assert_json_error(response, 414, "uri_too_long")
    assert body["message"] == "The address is too long."


@pytest.mark.django_db
def test_an_api_uri_at_the_limit_is_served(merchant_client):
    path = "/api/v1/packets/?x="
    response = merchant_client.get(path + "x" * (settings.MAX_URI_LENGTH - len(path)))
    assert response.status_code == 200


@pytest.mark.django_db
def test_an_over_long_page_uri_is_the_branded_414_page(web):
    response = web.get("/store/?q=" + "x" * settings.MAX_URI_LENGTH, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert_page(response, 414, "网址过长")


def test_django_refuses_long_uris_before_gunicorn_does():
    # The longest request line Django can be asked to judge: method, URI, version.
    longest_line = len("OPTIONS ") + settings.MAX_URI_LENGTH + len(" HTTP/1.1")
    assert longest_line < runstack.GUNICORN_LIMIT_REQUEST_LINE
    command = runstack.web_command(8000)
    assert command[command.index("--limit-request-line") + 1] == str(runstack.GUNICORN_LIMIT_REQUEST_LINE)


@pytest.fixture
def gunicorn_url():
    """The web server exactly as `make run` starts it (config.runstack.web_command), on a free port."""
    port = closed_port()
    proc = subprocess.Popen(
        runstack.web_command(port), cwd=runstack.BASE_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"{url}/api/v1/", timeout=10)
            break
        except requests.RequestException:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start") from None
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_over_long_uris_get_the_json_414_through_gunicorn(gunicorn_url):
    reply = requests.get(f"{gunicorn_url}/api/v1/orders/?status=" + "x" * settings.MAX_URI_LENGTH, timeout=30)
    assert reply.status_code == 414
    assert reply.json()["code"] == "uri_too_long"
    # Past gunicorn's own limit its plain-text reply is all anyone can get: the reason the two limits are ordered.
    reply = requests.get(f"{gunicorn_url}/api/v1/orders/?s=" + "x" * runstack.GUNICORN_LIMIT_REQUEST_LINE, timeout=30)
    assert reply.status_code == 414
    assert not reply.headers.get("Content-Type", "").startswith("application/json")


# --- 500 ------------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/test/boom/", "/api/v1/test/plain-boom/"], ids=["drf", "plain"])
def test_an_unexpected_exception_under_api_is_a_json_500(api, path):
    body = assert_json_error(api.get(path, HTTP_ACCEPT_LANGUAGE="en"), 500, "server_error")
    assert body["message"] == "Something went wrong on our side. Please try again later."
    assert "RuntimeError" not in str(body)


@pytest.mark.django_db
def test_an_unexpected_exception_on_a_page_is_the_branded_500_page(web):
    html = assert_page(web.get("/test/page-boom/", HTTP_ACCEPT_LANGUAGE="zh-hans"), 500, "出错了")
    assert "RuntimeError" not in html


# --- 503: the database really unreachable --------------------------------------------------------------------------


@pytest.fixture
def database_down(transactional_db):
    """PostgreSQL unreachable for this test's requests: Django's connection points at a closed port (connecting is
    refused, as with the server stopped). Set up before, restored after, so the test database itself is untouched."""
    connection.close()
    saved = connection.settings_dict["PORT"]
    connection.settings_dict["PORT"] = str(closed_port())
    yield
    connection.close()
    connection.settings_dict["PORT"] = saved


def test_the_fixture_really_takes_the_database_away(database_down):
    from django.db import OperationalError

    with pytest.raises(OperationalError):
        connection.ensure_connection()


@pytest.fixture
def merchant_token(transactional_db):
    return Token.objects.create(user=MerchantStaffFactory().user).key


def test_an_order_with_the_database_down_is_a_json_503_with_retry_after(api, merchant_token, database_down):
    api.credentials(HTTP_AUTHORIZATION=f"Token {merchant_token}")
    response = api.post(
        "/api/v1/orders/", order_body(UserFactory.build(pk=1), "50.00"), format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex, HTTP_ACCEPT_LANGUAGE="en",
    )  # fmt: skip
    body = assert_json_error(response, 503, "service_unavailable")
    assert body["message"] == "The service is briefly unavailable. Please try again in a moment."
    assert int(response["Retry-After"]) == settings.SERVICE_UNAVAILABLE_RETRY_AFTER


def test_an_unauthenticated_api_call_with_the_database_down_is_a_json_503(api, database_down):
    response = api.get("/api/v1/packets/", HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    assert_json_error(response, 503, "service_unavailable")
    assert response["Retry-After"]


@pytest.mark.parametrize(("language", "heading"), [("zh-hans", "暂时无法访问"), ("en", "Briefly unavailable")])
def test_a_page_with_the_database_down_is_the_branded_503_page(web, database_down, language, heading):
    response = web.get("/", HTTP_ACCEPT_LANGUAGE=language)
    assert_page(response, 503, heading)
    assert response["Retry-After"]


def test_a_signed_in_visitor_gets_the_503_page_when_the_session_cannot_be_read(web, transactional_db):
    web.force_login(UserFactory())  # the session is stored while the database is up ...
    connection.close()
    saved = connection.settings_dict["PORT"]
    connection.settings_dict["PORT"] = str(closed_port())
    try:
        response = web.get("/wallet/", HTTP_ACCEPT_LANGUAGE="en")  # ... and read in a middleware once it is down
    finally:
        connection.close()
        connection.settings_dict["PORT"] = saved
    assert_page(response, 503, "Briefly unavailable")


# --- 503: the broker or the cache unreachable -----------------------------------------------------------------------


@pytest.mark.django_db
def test_publishing_with_the_broker_down_is_a_json_503(api):
    response = api.post("/api/v1/test/publish/", {}, format="json")
    assert_json_error(response, 503, "service_unavailable")
    assert response["Retry-After"]


@pytest.mark.django_db
def test_reading_the_cache_with_redis_down_is_a_json_503(api, settings):
    settings.CACHES = {
        **settings.CACHES,
        "default": {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{closed_port()}/0"},
    }
    response = api.get("/api/v1/test/cache/")
    assert_json_error(response, 503, "service_unavailable")
    assert response["Retry-After"]


# --- no non-JSON error under /api/ ----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "bad_request"),
        (401, "not_authenticated"),
        (403, "permission_denied"),
        (429, "rate_limited"),
        (418, "error"),
    ],
)
def test_a_plain_error_reply_under_api_becomes_the_json_shape(api, status, code):
    assert_json_error(api.get(f"/api/v1/test/status/{status}/"), status, code)


@pytest.mark.django_db
def test_an_error_rendered_as_a_drf_html_page_is_sent_as_json_with_its_code(api):
    response = api.get("/api/v1/orders/", HTTP_ACCEPT="text/html")
    assert_json_error(response, 401, "not_authenticated")
