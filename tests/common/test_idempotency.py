import threading

import pytest
from django.db import connections
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from common.models import IdempotencyRecord
from packets.models import Order
from tests.factories.accounts import MerchantStaffFactory, UserFactory
from tests.factories.campaigns import two_way_campaign
from tests.packets.helpers import order_body, post_order


@pytest.fixture
def shopper(db):
    return UserFactory()


@pytest.mark.django_db
def test_same_key_and_body_replays_the_stored_reply_with_one_effect(merchant_client, shopper):
    two_way_campaign(merchant=merchant_client.merchant)
    body = order_body(shopper, "200.00")
    first = post_order(merchant_client, body, key="order-1")
    again = post_order(merchant_client, body, key="order-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1


@pytest.mark.django_db
def test_same_key_with_another_body_is_422(merchant_client, shopper):
    post_order(merchant_client, order_body(shopper, "20.00"), key="order-2")
    reply = post_order(merchant_client, order_body(shopper, "30.00"), key="order-2")
    assert reply.status_code == 422
    assert reply.json()["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 1


@pytest.mark.django_db
def test_keys_are_scoped_per_caller(merchant_client, shopper):
    other = APIClient()
    other.force_authenticate(MerchantStaffFactory().user)
    assert post_order(merchant_client, order_body(shopper, "20.00", order_no="X1"), key="k").status_code == 201
    assert post_order(other, order_body(shopper, "20.00", order_no="X1"), key="k").status_code == 201
    assert Order.objects.count() == 2


@pytest.mark.django_db
def test_a_refused_request_frees_its_key_for_a_corrected_retry(merchant_client, shopper):
    body = order_body(shopper, "20.00", packet_code="ZZZZ-ZZZZ-ZZZZ-ZZZZ")
    assert post_order(merchant_client, body, key="k3").status_code == 404
    assert not IdempotencyRecord.objects.exists()
    body.pop("packet_code")
    assert post_order(merchant_client, body, key="k3").status_code == 201


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_have_one_effect_and_identical_replies():
    staff = MerchantStaffFactory()
    token = Token.objects.create(user=staff.user).key
    two_way_campaign(merchant=staff.merchant)
    body = order_body(UserFactory(), "200.00")
    replies = []
    lock = threading.Lock()
    start = threading.Barrier(12)

    def send():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        start.wait()
        try:
            reply = post_order(client, body, key="same-key")
            with lock:
                replies.append((reply.status_code, reply.json()))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert Order.objects.count() == 1
    statuses = {status for status, _ in replies}
    assert statuses <= {201, 409}
    created = [b for s, b in replies if s == 201]
    assert created and all(b == created[0] for b in created)
    assert all(b["code"] == "idempotency_in_progress" for s, b in replies if s == 409)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert post_order(client, body, key="same-key").json() == created[0]
