"""Webhooks: deliveries written with the business event, signed, retried with back-off, given up, replayed — against a
local http.server receiver."""

import json
import threading
import time
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connections
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts import roles
from accounts.models import MerchantStaff
from campaigns.models import Campaign
from common.errors import ApplicationError
from packets.services import order_refund
from rebates.models import Rebate
from rebates.services import rebates_confirm_due, rebates_credit_for_redemption
from rebates.webhooks import services as webhooks
from rebates.webhooks.models import WebhookDelivery, WebhookEndpoint
from rebates.webhooks.tasks import webhook_deliver
from tests.campaigns.test_rules_in_orders import buy
from tests.conftest import wait_for
from tests.factories.accounts import MerchantFactory, MerchantStaffFactory, UserFactory
from tests.factories.campaigns import two_way_campaign
from tests.packets.helpers import order_body, post_order

D = Decimal
ALL_EVENTS = ["rebate.credited", "rebate.reversed", "payout.succeeded", "payout.failed"]


class Receiver:
    """A merchant's webhook receiver on 127.0.0.1: answers with the queued statuses (then 200), records requests."""

    def __init__(self):
        self.statuses: list[int] = []
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.requests.append({"headers": dict(self.headers), "body": body})
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                reply = b'{"ok": true}' if status < 300 else b"receiver is down"
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _webhook_settings(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_HOSTS = True  # the receiver is on 127.0.0.1
    settings.WEBHOOKS_TIMEOUT_SECONDS = 2
    settings.WEBHOOKS_RETRY_BASE_SECONDS = 0  # attempts are driven by the tests
    settings.WEBHOOKS_MAX_ATTEMPTS = 3
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def published(request, monkeypatch):
    """Publishing is recorded, except for tests with the real worker."""
    calls = []
    if "celery_worker" not in request.fixturenames:
        monkeypatch.setattr(webhooks, "webhook_publish", lambda pk, countdown=0: calls.append(pk) or True)
    return calls


def endpoint_for(merchant, url, events=ALL_EVENTS):
    return webhooks.webhook_endpoint_create(merchant=merchant, url=url, events=events)


def spent_order(campaign, shopper, gross="50.00"):
    code = buy(campaign.merchant, shopper, ("fruit", "200.00")).earned_packets.get().code
    return buy(campaign.merchant, shopper, ("fruit", gross), code=code)


def credit(order):
    return {r.role: r for r in rebates_credit_for_redemption(redemption_id=order.redemption.pk)}


def attempt(delivery: WebhookDelivery):
    return webhooks.webhook_attempt(delivery_id=delivery.pk)


def assert_books_clean(capsys):
    call_command("audit")
    assert "audit clean" in capsys.readouterr().out


# --- signatures ------------------------------------------------------------------------------------------------


def test_the_signature_is_an_hmac_of_timestamp_dot_body_and_stale_or_tampered_ones_fail():
    secret, body = "whsec_test", b'{"id":"evt_1"}'
    header = webhooks.webhook_signature_header(secret, body, timestamp=1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    import hashlib
    import hmac

    expected = hmac.new(secret.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    verify = webhooks.webhook_signature_verify
    assert verify(secret=secret, header=header, body=body, now=1_700_000_100)
    assert not verify(secret=secret, header=header, body=body + b" ", now=1_700_000_100)  # tampered body
    assert not verify(secret="whsec_other", header=header, body=body, now=1_700_000_100)  # another secret
    assert not verify(secret=secret, header=header, body=body, now=1_700_000_000 + 301)  # a replay, too late
    assert not verify(secret=secret, header="v1=" + expected, body=body, now=1_700_000_000)  # no timestamp


# --- emitting with the business event --------------------------------------------------------------------------


@pytest.mark.django_db
def test_crediting_writes_one_delivery_per_subscribed_endpoint_in_the_same_transaction(
    receiver, published, django_capture_on_commit_callbacks, capsys
):
    campaign, shopper = two_way_campaign(), UserFactory()
    own = endpoint_for(campaign.merchant, receiver.url)
    only_payouts = endpoint_for(campaign.merchant, receiver.url, events=["payout.succeeded"])
    someone_else = endpoint_for(MerchantFactory(), receiver.url)
    platform = endpoint_for(None, receiver.url, events=["rebate.credited"])
    order = spent_order(campaign, shopper)

    with django_capture_on_commit_callbacks(execute=True):
        legs = credit(order)
    deliveries = WebhookDelivery.objects.order_by("pk")
    assert {(d.endpoint_id, json.loads(d.body)["data"]["rebate"]["role"]) for d in deliveries} == {
        (own.pk, "issuer"),
        (own.pk, "holder"),
        (platform.pk, "issuer"),
        (platform.pk, "holder"),
    }
    assert only_payouts.pk not in {d.endpoint_id for d in deliveries} and someone_else.pk not in {
        d.endpoint_id for d in deliveries
    }
    assert sorted(published) == sorted(d.pk for d in deliveries)  # published after the commit
    body = json.loads(deliveries.filter(endpoint=own).get(event_type="rebate.credited", body__contains="holder").body)
    assert body["type"] == "rebate.credited" and body["id"].startswith("evt_")
    assert body["data"]["rebate"] | {"created_at": None} == {
        "id": legs["holder"].pk,
        "order_id": order.pk,
        "order_no": order.order_no,
        "campaign_id": campaign.pk,
        "packet_id": order.packet_id,
        "role": "holder",
        "form": "cash",
        "amount": "2.50",
        "currency": "CNY",
        "reversed_amount": "0.00",
        "status": "credited",
        "beneficiary": {"type": "user", "id": shopper.pk},
        "hold_until": None,
        "confirmed_at": body["data"]["rebate"]["confirmed_at"],
        "created_at": None,
    }
    # The same event again (a replayed service call) writes nothing new: one delivery per endpoint and event.
    webhooks.webhooks_emit_rebates_credited([legs["holder"].pk, legs["issuer"].pk])
    credit(order)
    assert WebhookDelivery.objects.count() == 4
    assert_books_clean(capsys)


@pytest.mark.django_db
def test_a_held_rebate_is_announced_when_its_hold_ends_and_a_refund_announces_the_reversal(receiver):
    campaign, shopper = two_way_campaign(), UserFactory()
    Campaign.objects.filter(pk=campaign.pk).update(hold_days=7)
    endpoint_for(campaign.merchant, receiver.url)
    order = spent_order(campaign, shopper)
    credit(order)
    assert not WebhookDelivery.objects.exists()  # pending rebates are not credited yet

    rebates_confirm_due(now=timezone.now() + timedelta(days=8))
    assert sorted(WebhookDelivery.objects.values_list("event_type", flat=True)) == ["rebate.credited"] * 2

    order_refund(order=order, amount=D("25.00"))
    reversed_ = [
        json.loads(b)
        for b in WebhookDelivery.objects.filter(event_type="rebate.reversed").values_list("body", flat=True)
    ]
    holder = next(e for e in reversed_ if e["data"]["rebate"]["role"] == "holder")
    assert holder["data"]["reversal"]["amount"] == "1.25"
    assert holder["data"]["reversal"]["reason"].startswith("refund:")
    assert holder["data"]["rebate"]["reversed_amount"] == "1.25"
    assert len(reversed_) == 2


@pytest.mark.django_db
def test_a_coupon_released_by_a_reviewer_is_announced_as_credited(receiver):
    from rebates.services import rebate_release_hold

    campaign, shopper = two_way_campaign(holder_form="coupon"), UserFactory()
    endpoint_for(campaign.merchant, receiver.url, events=["rebate.credited"])
    holder = credit(spent_order(campaign, shopper))["holder"]
    assert holder.form == "coupon"
    # As the anti-fraud verdict leaves it: held for review, not credited yet (its coupon waits).
    Rebate.objects.filter(pk=holder.pk).update(status="pending", held_for_review=True, confirmed_at=None)
    WebhookDelivery.objects.all().delete()

    assert rebate_release_hold(rebate_id=holder.pk)
    (delivery,) = WebhookDelivery.objects.all()
    assert json.loads(delivery.body)["data"]["rebate"] | {"confirmed_at": None} == json.loads(delivery.body)["data"][
        "rebate"
    ] | {"id": holder.pk, "form": "coupon", "status": "credited", "confirmed_at": None}


@pytest.mark.django_db
def test_nobody_subscribed_costs_no_delivery():
    campaign, shopper = two_way_campaign(), UserFactory()
    credit(spent_order(campaign, shopper))
    assert not WebhookDelivery.objects.exists()


# --- delivering ------------------------------------------------------------------------------------------------


@pytest.fixture
def delivery(db, receiver):
    campaign, shopper = two_way_campaign(), UserFactory()
    endpoint = endpoint_for(campaign.merchant, receiver.url, events=["rebate.credited"])
    credit(spent_order(campaign, shopper))
    found = WebhookDelivery.objects.filter(endpoint=endpoint).order_by("pk").first()
    found.secret = endpoint.secret
    return found


def test_a_delivery_is_signed_so_the_receiver_can_verify_it(receiver, delivery):
    assert attempt(delivery) is None
    (request,) = receiver.requests
    headers, body = request["headers"], request["body"]
    assert body == delivery.body.encode()
    assert webhooks.webhook_signature_verify(secret=delivery.secret, header=headers["X-Rebate-Signature"], body=body)
    assert headers["X-Rebate-Event-Id"] == f"evt_{delivery.event_id.hex}" == json.loads(body)["id"]
    assert headers["X-Rebate-Event"] == "rebate.credited"
    assert headers["Content-Type"].startswith("application/json")
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 200)
    assert delivery.delivered_at is not None and delivery.next_attempt_at is None


def test_a_500_is_retried_with_back_off_then_delivered_with_the_same_event(receiver, delivery, settings):
    settings.WEBHOOKS_RETRY_BASE_SECONDS = 30
    receiver.statuses = [500]
    assert attempt(delivery) == 30.0
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert "HTTP 500" in delivery.last_error and "receiver is down" in delivery.last_error
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=25)
    assert attempt(delivery) is None and len(receiver.requests) == 1  # not due yet: nothing sent
    assert webhooks.backoff_seconds(2) == 60.0 and webhooks.backoff_seconds(20) == settings.WEBHOOKS_RETRY_MAX_SECONDS

    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())  # time passes
    assert attempt(delivery) is None
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("succeeded", 2, 200)
    first, second = receiver.requests
    assert first["body"] == second["body"]
    assert first["headers"]["X-Rebate-Event-Id"] == second["headers"]["X-Rebate-Event-Id"]


def test_the_task_schedules_a_short_retry_itself_and_leaves_long_ones_to_the_sweep(receiver, delivery, published):
    receiver.statuses = [500]
    assert webhook_deliver.apply(args=[delivery.pk]).get() == "next attempt in 0s"
    assert published.count(delivery.pk) == 1
    assert webhook_deliver.apply(args=[delivery.pk]).get() == "done"
    delivery.refresh_from_db()
    assert delivery.state == "succeeded"


def test_after_the_last_attempt_the_delivery_fails_and_a_retry_replays_the_same_event(receiver, delivery, published):
    receiver.statuses = [500, 503, 502]
    for _ in range(3):
        attempt(delivery)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.next_attempt_at) == ("failed", 3, None)
    assert delivery.last_error.startswith("gave up after 3 attempts: HTTP 502")
    assert attempt(delivery) is None and len(receiver.requests) == 3  # given up: nothing more is sent
    assert delivery.pk not in webhooks.webhooks_due(grace_seconds=0)

    assert webhooks.webhook_deliveries_retry(delivery_ids=[delivery.pk]) == [delivery.pk]
    attempt(delivery)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("succeeded", 1)
    # A replay of a delivered event: sent again, same id and body.
    webhooks.webhook_deliveries_retry(delivery_ids=[delivery.pk])
    attempt(delivery)
    ids = {r["headers"]["X-Rebate-Event-Id"] for r in receiver.requests}
    assert ids == {f"evt_{delivery.event_id.hex}"} and len(receiver.requests) == 5
    assert len({r["body"] for r in receiver.requests}) == 1


def test_a_receiver_that_does_not_answer_in_time_is_a_failed_attempt(delivery, settings):
    import socket

    settings.WEBHOOKS_TIMEOUT_SECONDS = 0.3
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts connections, never answers
    try:
        WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).update(
            url=f"http://127.0.0.1:{silent.getsockname()[1]}/"
        )
        assert attempt(delivery) == 0.0
    finally:
        silent.close()
    delivery.refresh_from_db()
    assert delivery.state == "pending" and delivery.last_error.startswith("timeout")


def test_a_switched_off_endpoint_fails_its_pending_deliveries(receiver, delivery):
    webhooks.webhook_endpoint_update(endpoint=delivery.endpoint, active=False)
    assert attempt(delivery) is None
    delivery.refresh_from_db()
    assert delivery.state == "failed" and "switched off" in delivery.last_error and not receiver.requests


def test_the_sweep_publishes_only_overdue_pending_deliveries(delivery, published):
    published.clear()
    assert webhooks.webhooks_sweep() == 0  # just written: its own publish is on the way
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=5))
    assert webhooks.webhooks_sweep() == 1 and published == [delivery.pk]
    WebhookDelivery.objects.filter(pk=delivery.pk).update(state="succeeded")
    assert webhooks.webhooks_sweep() == 0


@pytest.mark.django_db(transaction=True)
def test_the_task_running_twice_at_once_posts_once(receiver):
    campaign, shopper = two_way_campaign(), UserFactory()
    endpoint_for(campaign.merchant, receiver.url, events=["rebate.credited"])
    credit(spent_order(campaign, shopper))
    delivery = WebhookDelivery.objects.order_by("pk").first()

    original = webhooks._post
    entered = threading.Event()

    def slow_post(d):
        entered.set()
        time.sleep(0.3)  # the second run arrives while the first is talking to the receiver
        return original(d)

    results = []

    def run():
        try:
            results.append(webhook_deliver.apply(args=[delivery.pk]).get())
        finally:
            connections.close_all()

    webhooks._post = slow_post
    try:
        first = threading.Thread(target=run)
        first.start()
        entered.wait(5)
        second = threading.Thread(target=run)
        second.start()
        first.join(10)
        second.join(10)
    finally:
        webhooks._post = original
    assert results == ["done", "done"]
    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("succeeded", 1)
    webhook_deliver.apply(args=[delivery.pk])  # and once more after it was delivered
    assert len(receiver.requests) == 1


# --- URLs ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "https://10.0.0.8/hook",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/",
    ],
)
def test_private_loopback_and_reserved_hosts_are_refused_in_production(settings, url):
    settings.WEBHOOKS_ALLOW_PRIVATE_HOSTS = False
    with pytest.raises(ApplicationError) as refused:
        webhooks.webhook_url_check(url)
    assert refused.value.code == "private_webhook_host"


@pytest.mark.parametrize(
    "url", ["ftp://203.0.113.9/x", "javascript:alert(1)", "http:///nohost", "https://user:pw@8.8.8.8/x", "http://[x/"]
)
def test_only_http_and_https_urls_with_a_host_are_accepted(url):
    with pytest.raises(ApplicationError) as refused:
        webhooks.webhook_url_check(url)
    assert refused.value.code == "invalid_webhook_url"


def test_a_public_address_is_accepted(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_HOSTS = False
    webhooks.webhook_url_check("https://8.8.8.8/hooks")  # a literal: no DNS needed


def test_a_delivery_to_a_host_that_became_private_is_refused_before_sending(receiver, delivery, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_HOSTS = False  # e.g. its DNS now points inside
    assert attempt(delivery) == 0.0
    delivery.refresh_from_db()
    assert delivery.last_error.startswith("refused:") and not receiver.requests


# --- API -------------------------------------------------------------------------------------------------------

API = "/api/v1/webhooks/endpoints/"


def api_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def merchant_admin(db):
    staff = MerchantStaffFactory()
    client = api_for(staff.user)
    client.merchant = staff.merchant
    return client


def test_merchant_admins_register_list_change_rotate_and_delete_endpoints(merchant_admin, receiver):
    created = merchant_admin.post(
        API, {"url": receiver.url, "events": ["rebate.credited", "payout.failed"], "description": "ERP"}, format="json"
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["events"] == ["rebate.credited", "payout.failed"]
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.merchant == merchant_admin.merchant and endpoint.secret == body["secret"]

    listed = merchant_admin.get(API).json()["results"]
    assert [e["id"] for e in listed] == [endpoint.pk] and "secret" not in listed[0]
    one = merchant_admin.get(f"{API}{endpoint.pk}/")
    assert one.status_code == 200 and "secret" not in one.json()

    changed = merchant_admin.patch(
        f"{API}{endpoint.pk}/", {"active": False, "events": ["rebate.reversed"]}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["active"] is False
    assert changed.json()["events"] == ["rebate.reversed"]

    rotated = merchant_admin.post(f"{API}{endpoint.pk}/rotate-secret/")
    assert rotated.status_code == 200 and rotated.json()["secret"] not in (body["secret"], "")

    assert merchant_admin.delete(f"{API}{endpoint.pk}/").status_code == 204
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"url": "ftp://203.0.113.9/", "events": ["rebate.credited"]}, "invalid_webhook_url"),
        ({"url": "http://10.1.2.3/hook", "events": ["rebate.credited"]}, "private_webhook_host"),
        ({"url": "https://8.8.8.8/hook", "events": ["order.paid"]}, "invalid"),
        ({"url": "https://8.8.8.8/hook", "events": []}, "invalid"),
        ({"events": ["rebate.credited"]}, "invalid"),
    ],
)
def test_bad_endpoints_are_a_400_and_write_nothing(merchant_admin, settings, payload, code):
    settings.WEBHOOKS_ALLOW_PRIVATE_HOSTS = False
    reply = merchant_admin.post(API, payload, format="json")
    assert reply.status_code == 400 and reply.json()["code"] == code, reply.json()
    assert set(reply.json()) == {"code", "message", "details"}
    assert not WebhookEndpoint.objects.exists()


def test_only_a_merchants_admins_reach_its_webhooks(merchant_admin, receiver):
    other = endpoint_for(MerchantFactory(), receiver.url)
    assert merchant_admin.get(f"{API}{other.pk}/").json()["code"] == "webhook_endpoint_not_found"
    assert merchant_admin.delete(f"{API}{other.pk}/").status_code == 404
    assert merchant_admin.get(API).json()["results"] == []

    shopper = api_for(UserFactory()).get(API)
    assert (shopper.status_code, shopper.json()["code"]) == (403, "merchant_admin_required")
    manager = MerchantStaffFactory(role=MerchantStaff.Role.CAMPAIGN_MANAGER)
    assert api_for(manager.user).get(API).status_code == 403
    assert APIClient().get(API).status_code == 401


def test_the_delivery_log_and_retry_through_the_api(merchant_admin, receiver):
    campaign, shopper = two_way_campaign(merchant=merchant_admin.merchant), UserFactory()
    endpoint = endpoint_for(merchant_admin.merchant, receiver.url, events=["rebate.credited"])
    elsewhere = two_way_campaign()
    endpoint_for(elsewhere.merchant, receiver.url)  # another merchant's log stays hidden
    credit(spent_order(campaign, shopper))
    credit(spent_order(elsewhere, shopper))
    mine = WebhookDelivery.objects.filter(endpoint=endpoint).order_by("pk")
    receiver.statuses = [500, 500, 500]
    for _ in range(3):
        attempt(mine[0])

    log = merchant_admin.get("/api/v1/webhooks/deliveries/?state=failed").json()["results"]
    assert [(d["id"], d["state"], d["attempts"], d["last_status_code"]) for d in log] == [
        (mine[0].pk, "failed", 3, 500)
    ]
    assert log[0]["event_id"] == f"evt_{mine[0].event_id.hex}" and log[0]["payload"]["type"] == "rebate.credited"
    assert len(merchant_admin.get(f"/api/v1/webhooks/deliveries/?endpoint={endpoint.pk}").json()["results"]) == 2
    assert merchant_admin.get("/api/v1/webhooks/deliveries/?state=nope").json()["code"] == "invalid_filter"

    retried = merchant_admin.post(f"/api/v1/webhooks/deliveries/{mine[0].pk}/retry/")
    assert retried.status_code == 202 and (retried.json()["state"], retried.json()["attempts"]) == ("pending", 0)
    other = WebhookDelivery.objects.exclude(endpoint=endpoint).first()
    assert merchant_admin.post(f"/api/v1/webhooks/deliveries/{other.pk}/retry/").status_code == 404


# --- admin -----------------------------------------------------------------------------------------------------


@pytest.fixture
def merchant_admin_browser(db, client):
    staff = MerchantStaffFactory(user__is_staff=True)
    staff.user.groups.add(Group.objects.get(name=roles.MERCHANT_ADMIN))
    client.force_login(staff.user)
    client.merchant = staff.merchant
    return client


def test_merchants_register_endpoints_in_admin_and_see_only_their_own(merchant_admin_browser, receiver):
    client = merchant_admin_browser
    other = endpoint_for(MerchantFactory(), receiver.url)
    reply = client.post(
        "/admin/rebates/webhookendpoint/add/",
        {"url": receiver.url, "events": ["rebate.credited", "payout.succeeded"], "description": "ERP", "active": "on"},
    )
    assert reply.status_code == 302, reply.content.decode()[:2000]
    mine = WebhookEndpoint.objects.exclude(pk=other.pk).get()
    assert mine.merchant == client.merchant and mine.secret.startswith("whsec_")
    assert mine.events == ["rebate.credited", "payout.succeeded"]
    page = client.get(f"/admin/rebates/webhookendpoint/{mine.pk}/change/").content.decode()
    assert mine.secret in page
    listing = client.get("/admin/rebates/webhookendpoint/").content.decode()
    assert f"/{mine.pk}/change/" in listing and f"/{other.pk}/change/" not in listing
    assert client.get(f"/admin/rebates/webhookendpoint/{other.pk}/change/").status_code == 302  # not theirs


def test_the_admin_delivery_log_is_read_only_with_retry_now(
    merchant_admin_browser, receiver, published, django_capture_on_commit_callbacks
):
    client = merchant_admin_browser
    campaign, shopper = two_way_campaign(merchant=client.merchant), UserFactory()
    endpoint_for(client.merchant, receiver.url, events=["rebate.credited"])
    elsewhere = two_way_campaign()
    other = endpoint_for(elsewhere.merchant, receiver.url)
    credit(spent_order(campaign, shopper))
    credit(spent_order(elsewhere, shopper))
    hidden = WebhookDelivery.objects.filter(endpoint=other).first()
    failed = WebhookDelivery.objects.filter(endpoint__merchant=client.merchant).first()
    WebhookDelivery.objects.filter(pk=failed.pk).update(state="failed", attempts=3, next_attempt_at=None)

    listing = client.get("/admin/rebates/webhookdelivery/").content.decode()
    assert f"/{failed.pk}/change/" in listing and f"/{hidden.pk}/change/" not in listing
    page = client.get(f"/admin/rebates/webhookdelivery/{failed.pk}/change/")
    assert page.status_code == 200 and str(failed.event_id) in page.content.decode()
    assert 'name="_save"' not in page.content.decode()  # read-only
    assert client.get(f"/admin/rebates/webhookdelivery/{hidden.pk}/change/").status_code == 302
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        reply = client.post(
            "/admin/rebates/webhookdelivery/", {"action": "retry_now", "_selected_action": [failed.pk]}, follow=True
        )
    assert "1 delivery queued to be sent again" in reply.content.decode()
    assert reply.status_code == 200
    failed.refresh_from_db()
    assert (failed.state, failed.attempts) == ("pending", 0)
    assert published == [failed.pk]


# --- with the real worker --------------------------------------------------------------------------------------


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_end_to_end_a_redemption_reaches_the_merchants_receiver_through_the_worker(receiver, celery_worker, capsys):
    staff = MerchantStaffFactory()
    api = api_for(staff.user)
    two_way_campaign(merchant=staff.merchant)
    endpoint = endpoint_for(staff.merchant, receiver.url, events=["rebate.credited"])
    shopper = UserFactory()
    code = post_order(api, order_body(shopper, "200.00")).json()["earned_packets"][0]["code"]
    assert post_order(api, order_body(shopper, "50.00", packet_code=code)).status_code == 201

    wait_for(lambda: len(receiver.requests) == 2, timeout=30)
    roles_seen = set()
    for request in receiver.requests:
        assert webhooks.webhook_signature_verify(
            secret=endpoint.secret, header=request["headers"]["X-Rebate-Signature"], body=request["body"]
        )
        roles_seen.add(json.loads(request["body"])["data"]["rebate"]["role"])
    assert roles_seen == {"issuer", "holder"}
    wait_for(lambda: not WebhookDelivery.objects.exclude(state="succeeded").exists())
    assert Rebate.objects.count() == 2
    assert_books_clean(capsys)


@pytest.mark.parametrize("endpoint", ["-480", "0", "²", "٣", "1e3", "99999999999999999999", "9223372036854775808"])
def test_a_delivery_filter_that_is_not_an_id_is_400_invalid_filter(merchant_admin, endpoint):
    reply = merchant_admin.get("/api/v1/webhooks/deliveries/", {"endpoint": endpoint})
    assert (reply.status_code, reply.json()["code"]) == (400, "invalid_filter")


def test_a_delivery_filter_by_the_largest_id_is_an_empty_page(merchant_admin):
    reply = merchant_admin.get("/api/v1/webhooks/deliveries/", {"endpoint": str(2**63 - 1)})
    assert (reply.status_code, reply.json()["results"]) == (200, [])
