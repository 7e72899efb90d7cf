"""One language per error reply, chosen by Accept-Language (zh-Hans by default, also with no header at all): the
message of the exception handler, DRF's own validation details and the apps' ApplicationError messages all come out
in it."""

import re
import uuid

import pytest

from packets.models import Order
from tests.factories.accounts import UserFactory
from tests.factories.campaigns import two_way_campaign

pytestmark = pytest.mark.django_db

CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z]{3,}")


def texts(value) -> list[str]:
    """Every human-readable string of a reply (its message and everything in details), keys left out."""
    if isinstance(value, dict):
        return [t for v in value.values() for t in texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in texts(v)]
    return [value] if isinstance(value, str) else []


def assert_chinese(body: dict) -> None:
    for text in texts({"message": body["message"], "details": body["details"]}):
        assert CJK.search(text), f"not Chinese: {text!r}"


def assert_english(body: dict) -> None:
    for text in texts({"message": body["message"], "details": body["details"]}):
        assert not CJK.search(text), f"not English: {text!r}"
        assert LATIN_WORD.search(text), text


INVALID_ORDER = {"order_no": "", "gross_amount": 12.5, "lines": [{"sku": "A", "quantity": "many"}]}


def post_invalid(client, **headers):
    return client.post(
        "/api/v1/orders/", INVALID_ORDER, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex, **headers
    )


def test_an_invalid_order_in_english_has_an_english_message_and_details(merchant_client):
    before = Order.objects.count()
    response = post_invalid(merchant_client, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["message"] == "The request is invalid; see details."
    assert {"order_no", "gross_amount", "lines"} <= body["details"].keys()
    assert_english(body)
    assert response["Content-Language"] == "en"
    assert Order.objects.count() == before


@pytest.mark.parametrize("header", ["zh-hans", "zh-CN,zh;q=0.9,en;q=0.5"])
def test_an_invalid_order_in_chinese_has_a_chinese_message_and_details(merchant_client, header):
    before = Order.objects.count()
    response = post_invalid(merchant_client, HTTP_ACCEPT_LANGUAGE=header)
    assert response.status_code == 400
    body = response.json()
    assert body["message"] == "请求无效，详见 details。"
    assert {"order_no", "gross_amount", "lines"} <= body["details"].keys()
    assert_chinese(body)
    assert Order.objects.count() == before


def test_an_invalid_order_without_accept_language_is_answered_in_chinese(merchant_client, settings):
    settings.LANGUAGE_CODE = "zh-hans"  # the project's default (the test suite's own default is English)
    response = post_invalid(merchant_client)
    assert response.status_code == 400
    assert_chinese(response.json())
    assert response["Content-Language"] == "zh-hans"


@pytest.mark.parametrize(
    ("language", "message"),
    [("en", "No such packet for this shopper."), ("zh-hans", "该顾客没有这个红包。")],
)
def test_a_domain_refusal_comes_out_in_the_reply_language(merchant_client, language, message):
    two_way_campaign(merchant=merchant_client.merchant)
    body = {
        "order_no": f"L-{uuid.uuid4().hex[:8]}",
        "shopper_id": UserFactory().pk,
        "gross_amount": "60.00",
        "lines": [{"sku": "A", "name": "Apple", "category": "fruit", "quantity": 1, "unit_price": "60.00"}],
        "packet_code": "NO-SUCH-CODE",
    }
    response = merchant_client.post(
        "/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex, HTTP_ACCEPT_LANGUAGE=language
    )
    assert response.status_code == 404, response.json()
    assert response.json()["code"] == "packet_not_found"
    assert response.json()["message"] == message


@pytest.mark.parametrize(("language", "check"), [("en", assert_english), ("zh-hans", assert_chinese)])
def test_an_unauthenticated_call_is_refused_in_the_reply_language(client, language, check):
    response = client.get("/api/v1/packets/", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 401
    check(response.json())


@pytest.mark.parametrize(("language", "check"), [("en", assert_english), ("zh-hans", assert_chinese)])
def test_a_missing_idempotency_key_is_refused_in_the_reply_language(merchant_client, language, check):
    response = merchant_client.post("/api/v1/orders/", {}, format="json", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 400
    check(response.json())
