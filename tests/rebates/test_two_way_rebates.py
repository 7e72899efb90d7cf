"""The seed's worked numbers, end to end through the API and a real Celery worker process."""

import threading
import uuid
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connections
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns.models import RebateRule
from packets.models import Redemption
from rebates import outbox
from rebates.models import AccountKind, LedgerAccount, OutboxEvent, Rebate
from rebates.services import rebates_credit_for_redemption
from rebates.tasks import credit_redemption_rebates
from tests.conftest import wait_for
from tests.factories.accounts import MerchantStaffFactory, UserFactory
from tests.factories.campaigns import two_way_campaign
from tests.packets.helpers import order_body, post_order

D = Decimal
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery_worker]


@pytest.fixture
def api():
    staff = MerchantStaffFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff.user).key}")
    client.merchant = staff.merchant
    return client


def credited(client, order_id: int) -> dict:
    return wait_for(lambda: (b := client.get(f"/api/v1/orders/{order_id}/").json())["rebate_state"] == "credited" and b)


def balance(kind, **owner) -> Decimal:
    account = LedgerAccount.objects.filter(kind=kind, **owner).first()
    return account.balance if account else D("0.00")


def test_seed_two_way_rebate_merchant_10_percent_and_shopper_5_percent(api, celery_worker):
    two_way_campaign(merchant=api.merchant)
    shopper = UserFactory()
    first = post_order(api, order_body(shopper, "200.00"))
    assert first.status_code == 201
    code = first.json()["earned_packets"][0]["code"]

    second = post_order(api, order_body(shopper, "50.00", packet_code=code))
    assert second.status_code == 201
    body = credited(api, second.json()["id"])

    assert sorted((r["role"], r["amount"], r["currency"]) for r in body["rebates"]) == [
        ("holder", "2.50", "CNY"),
        ("issuer", "5.00", "CNY"),
    ]
    assert balance(AccountKind.MERCHANT_MARKETING_CREDIT, merchant=api.merchant) == D("5.00")
    assert balance(AccountKind.SHOPPER_CASH, user=shopper) == D("2.50")
    shopper_api = APIClient()
    shopper_api.force_authenticate(shopper)
    wallet = shopper_api.get("/api/v1/wallet/").json()
    assert (wallet["owner"], wallet["balances"]["cash"], wallet["balances"]["points"]) == ("shopper", "2.50", 0)
    rebates = shopper_api.get(f"/api/v1/rebates/?order={second.json()['id']}").json()["results"]
    assert [(r["role"], r["amount"]) for r in rebates] == [("holder", "2.50")]
    call_command("audit")


def test_seed_fruit_cashback_is_8_percent_of_the_order_amount_not_of_the_amount_paid(api, celery_worker):
    two_way_campaign(merchant=api.merchant, threshold_amount=D("100.00"), issuer_rate=D("0"), holder_rate=D("8.00"))
    shopper = UserFactory()
    code = post_order(api, order_body(shopper, "100.00")).json()["earned_packets"][0]["code"]
    reply = post_order(api, order_body(shopper, "50.00", packet_code=code))
    assert (reply.json()["discount"], reply.json()["amount_paid"]) == ("10.00", "40.00")
    body = credited(api, reply.json()["id"])
    assert [(r["role"], r["amount"]) for r in body["rebates"]] == [("holder", "4.00")]
    assert balance(AccountKind.SHOPPER_CASH, user=shopper) == D("4.00")
    call_command("audit")


def test_holder_rebate_as_points_uses_the_points_factor(api, celery_worker):
    campaign = two_way_campaign(merchant=api.merchant)
    RebateRule.objects.filter(campaign=campaign).update(holder_form="points", points_per_cny=100)
    shopper = UserFactory()
    code = post_order(api, order_body(shopper, "200.00")).json()["earned_packets"][0]["code"]
    body = credited(api, post_order(api, order_body(shopper, "50.00", packet_code=code)).json()["id"])
    assert ("holder", "250.00", "POINTS") in [(r["role"], r["amount"], r["currency"]) for r in body["rebates"]]
    assert balance(AccountKind.SHOPPER_POINTS, user=shopper) == D("250")
    call_command("audit")


def test_rebate_task_run_three_times_credits_once(api, monkeypatch):
    monkeypatch.setattr(outbox, "outbox_publish", lambda topic, ref_id: True)  # no worker: we run it by hand
    two_way_campaign(merchant=api.merchant)
    shopper = UserFactory()
    code = post_order(api, order_body(shopper, "200.00")).json()["earned_packets"][0]["code"]
    post_order(api, order_body(shopper, "50.00", packet_code=code))
    redemption = Redemption.objects.get()
    for _ in range(3):
        credit_redemption_rebates.apply(args=[redemption.pk]).get()
    assert Rebate.objects.filter(redemption=redemption).count() == 2
    assert balance(AccountKind.SHOPPER_CASH, user=shopper) == D("2.50")
    assert OutboxEvent.objects.get(ref_id=redemption.pk).done_at is not None
    call_command("audit")


def test_concurrent_rebate_runs_for_one_redemption_credit_once(api, monkeypatch):
    monkeypatch.setattr(outbox, "outbox_publish", lambda topic, ref_id: True)
    two_way_campaign(merchant=api.merchant)
    shopper = UserFactory()
    code = post_order(api, order_body(shopper, "200.00")).json()["earned_packets"][0]["code"]
    post_order(api, order_body(shopper, "50.00", packet_code=code))
    redemption_id = Redemption.objects.get().pk
    start = threading.Barrier(8)

    def run():
        start.wait()
        try:
            rebates_credit_for_redemption(redemption_id=redemption_id)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Rebate.objects.count() == 2
    assert balance(AccountKind.SHOPPER_CASH, user=shopper) == D("2.50")
    call_command("audit")


def test_lost_publish_is_recovered_by_the_outbox_sweeper(api, celery_worker, monkeypatch):
    real_publish = outbox.outbox_publish
    monkeypatch.setattr(outbox, "outbox_publish", lambda topic, ref_id: False)  # the broker "lost" it
    two_way_campaign(merchant=api.merchant)
    shopper = UserFactory()
    code = post_order(api, order_body(shopper, "200.00")).json()["earned_packets"][0]["code"]
    order_id = post_order(api, order_body(shopper, "50.00", packet_code=code)).json()["id"]
    assert api.get(f"/api/v1/orders/{order_id}/").json()["rebate_state"] == "computing"
    monkeypatch.setattr(outbox, "outbox_publish", real_publish)
    from datetime import timedelta

    assert outbox.outbox_sweep(older_than=timedelta(0)) == 1
    credited(api, order_id)
    call_command("audit")


def test_50_concurrent_spends_of_one_packet_one_wins_the_rest_get_409(api, celery_worker):
    two_way_campaign(merchant=api.merchant)
    shopper = UserFactory()
    code = post_order(api, order_body(shopper, "200.00")).json()["earned_packets"][0]["code"]
    token = api._credentials["HTTP_AUTHORIZATION"]
    replies: list[tuple[int, str]] = []
    lock = threading.Lock()
    start = threading.Barrier(50)

    def spend():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=token)
        start.wait()
        try:
            reply = post_order(client, order_body(shopper, "50.00", packet_code=code), key=uuid.uuid4().hex)
            with lock:
                replies.append((reply.status_code, reply.json().get("code", "")))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=spend) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(replies).count((201, "")) == 1
    assert sorted(replies).count((409, "packet_used")) == 49
    assert Redemption.objects.count() == 1
    wait_for(lambda: Rebate.objects.count() == 2)
    call_command("audit")
