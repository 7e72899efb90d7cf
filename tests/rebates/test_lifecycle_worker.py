"""The rebate lifecycle end to end: requests through the API, every background step on a real Celery worker process
(never a service called in-process), the books audited after each test.

This module runs its own worker (module-scoped), started with the WECHATPAY_* environment of a local fake WeChat Pay
server, so payouts reach WeChat from the worker exactly as in production. Its `celery_worker` fixture replaces the
session's for these tests: tasks are published to this worker's queue, and before the tables are emptied it waits
until the worker has finished everything the test gave it (outbox events and payouts)."""

import time
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import Campaign, Enrolment, MilestoneProgram, MultiplierWindow, ReferralProgram, ReferralReward
from campaigns.selectors import campaign_budget_account, campaign_reserve_account
from rebates.ledger import ledger_account, platform_account, transfer
from rebates.models import AccountKind, LedgerTransaction, OutboxEvent, Rebate
from rebates.payouts.models import Payout
from tests.conftest import running_celery_worker, wait_for
from tests.factories.accounts import UserFactory
from tests.factories.campaigns import two_way_campaign
from tests.packets.helpers import line, order_body, post_order
from tests.rebates.fake_wechat import FakeWechatPay, Keys

D = Decimal
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery_worker]

QUEUE = f"test-lifecycle-{uuid.uuid4().hex[:12]}"
OPENID = "o-lifecycle-openid-00000000000"
WORKER_SETTINGS = {
    "WECHATPAY_TEST_OPENID": OPENID,
    "WECHATPAY_TIMEOUT_SECONDS": "0.5",  # the fake's "timeouts" sleep 1.5 s
    "WECHATPAY_RETRY_BASE_SECONDS": "0",  # the next step is published at once
    "WECHATPAY_MAX_ATTEMPTS": "5",
}


# --- the worker and the fake WeChat Pay ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    """A local WeChat Pay for the whole module; `fake.wechat_settings` are the WECHATPAY_* that point at it."""
    keys = Keys()
    server = FakeWechatPay(keys, delay_seconds=1.5).start()
    server.wechat_settings = {
        **keys.write(tmp_path_factory.mktemp("wechat")),
        "WECHATPAY_GATEWAY": server.url,
        **WORKER_SETTINGS,
    }
    yield server
    server.stop()


@pytest.fixture(scope="module")
def _worker_process(fake, django_db_setup, django_db_blocker):
    """A real Celery worker on the test database and this module's queue, configured for the fake WeChat Pay."""

    with running_celery_worker(queue=QUEUE, **fake.wechat_settings) as proc:
        yield proc


@pytest.fixture
def celery_worker(_worker_process, transactional_db, fake, settings):
    """This module's worker for one test (replaces the session's `celery_worker`): this process publishes to its
    queue and talks to the same fake WeChat Pay; afterwards, wait until the worker is idle for this test."""
    settings.CELERY_TASK_DEFAULT_QUEUE = QUEUE
    for name, value in fake.wechat_settings.items():
        setattr(settings, name, type(getattr(settings, name))(value))
    yield _worker_process
    open_payouts = Payout.objects.filter(
        status__in=["requested", "in_flight", "retrying"], next_attempt_at__isnull=False
    )
    deadline = time.monotonic() + 30
    while (
        OutboxEvent.objects.filter(done_at__isnull=True).exists() or open_payouts.exists()
    ) and time.monotonic() < deadline:
        time.sleep(0.1)


# --- helpers ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def api(merchant_client, celery_worker):
    """The merchant's API client (token), with the worker running."""
    return merchant_client


def as_user(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def wallet(user) -> dict:
    return as_user(user).get("/api/v1/wallet/").json()["balances"]


def place(api, shopper, gross: str, *, code: str | None = None, category: str = "fruit") -> dict:
    reply = post_order(api, order_body(shopper, gross, packet_code=code, lines=[line(gross, category=category)]))
    assert reply.status_code == 201, reply.json()
    return reply.json()


def earned_code(api, shopper) -> str:
    """A 200.00 order earns the seed's 10.00 packet (minimum spend 50.00)."""
    return place(api, shopper, "200.00")["earned_packets"][0]["code"]


def rebates_done(api, order_id: int) -> dict:
    """The order once the worker has computed its rebates."""
    return wait_for(lambda: (b := api.get(f"/api/v1/orders/{order_id}/").json())["rebate_state"] == "credited" and b)


def spend(api, shopper, gross: str = "50.00") -> dict:
    """Earn a packet and spend it: the worker credits the two-way rebate of the second order."""
    return rebates_done(api, place(api, shopper, gross, code=earned_code(api, shopper))["id"])


def refund(api, order_id: int, amount: str):
    reply = api.post(
        f"/api/v1/orders/{order_id}/refunds/", {"amount": amount}, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex
    )
    assert reply.status_code == 201, reply.json()


def run_on_worker(task):
    """Publish a (beat) task to the worker, as Celery beat would."""
    from django.conf import settings

    task.apply_async(queue=settings.CELERY_TASK_DEFAULT_QUEUE)


def withdraw(user, amount: str) -> Payout:
    """POST /api/v1/payouts/ and wait until the worker has finished the payout at WeChat."""
    reply = as_user(user).post(
        "/api/v1/payouts/",
        {"amount": amount, "channel": "wechat_balance"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )
    assert reply.status_code == 201, reply.json()
    payout_id = reply.json()["id"]
    return wait_for(lambda: (p := Payout.objects.get(pk=payout_id)).status in ("succeeded", "failed") and p)


# --- each reward form ends in the wallet -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "rule", "expected"),
    [
        ("cash", {}, {"cash": "2.50"}),
        ("points", {"holder_form": "points", "points_per_cny": 100}, {"points": 250, "cash": "0.00"}),
        ("coupon", {"holder_form": "coupon", "coupon_min_spend": D("20.00")}, {"coupons": "2.50", "cash": "0.00"}),
    ],
)
def test_each_reward_form_ends_in_the_shoppers_wallet(api, form, rule, expected):
    two_way_campaign(merchant=api.merchant, **rule)
    shopper = UserFactory()

    order = spend(api, shopper)  # 5 % of 50.00 = 2.50 for the holder

    assert ("holder", "2.50" if form != "points" else "250.00", form) in [
        (r["role"], r["amount"], r["form"]) for r in order["rebates"]
    ]
    balances = wallet(shopper)
    assert {k: balances[k] for k in expected} == expected
    if form == "coupon":
        packets = as_user(shopper).get("/api/v1/packets/?status=issued").json()["results"]
        assert ("2.50", "20.00") in [(p["amount"], p["min_spend"]) for p in packets]
    call_command("audit")


# --- holds -----------------------------------------------------------------------------------------------------------


def test_a_held_rebate_is_pending_until_the_confirm_task_runs_on_the_worker(api):
    from rebates.tasks import confirm_due_rebates

    campaign = two_way_campaign(merchant=api.merchant)
    Campaign.objects.filter(pk=campaign.pk).update(hold_days=7)
    shopper = UserFactory()
    order = spend(api, shopper)
    assert {r["status"] for r in order["rebates"]} == {"pending"}
    assert (wallet(shopper)["cash"], wallet(shopper)["cash_pending"]) == ("0.00", "2.50")
    call_command("audit")

    # Seven days pass.
    Rebate.objects.filter(redemption__order_id=order["id"]).update(hold_until=timezone.now() - timedelta(seconds=1))
    run_on_worker(confirm_due_rebates)

    wait_for(lambda: set(Rebate.objects.values_list("status", flat=True)) == {"credited"})  # both legs, one by one
    assert (wallet(shopper)["cash"], wallet(shopper)["cash_pending"]) == ("2.50", "0.00")
    call_command("audit")


# --- refunds after a payout ------------------------------------------------------------------------------------------


def test_a_partial_refund_after_a_payout_leaves_a_debt_netted_from_the_next_rebate(api):
    two_way_campaign(merchant=api.merchant)
    shopper = UserFactory()
    order = spend(api, shopper)  # 2.50
    assert withdraw(shopper, "2.50").status == "succeeded"
    assert wallet(shopper)["cash"] == "0.00"

    refund(api, order["id"], "30.00")  # 60 % of the order: 1.50 of the 2.50 comes back, and the wallet is empty

    assert wallet(shopper)["debt"] == "1.50"
    call_command("audit")

    spend(api, shopper, "100.00")  # 5.00: 1.50 repays the debt, 3.50 reaches the wallet
    assert (wallet(shopper)["cash"], wallet(shopper)["debt"]) == ("3.50", "0.00")
    call_command("audit")


# --- milestone rebates (紅包反向系統) --------------------------------------------------------------------------------


def enrol(api, campaign, teacher, student, **overrides) -> dict:
    body = {
        "campaign_id": campaign.pk,
        "teacher_id": teacher.pk,
        "student_id": student.pk,
        "external_id": f"ENR-{uuid.uuid4().hex[:8]}",
        "tuition": "3000.00",
        "lessons_required": 12,
        "deadline": (timezone.now() + timedelta(days=90)).isoformat(),
        **overrides,
    }
    reply = api.post("/api/v1/milestones/enrolments/", body, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)
    assert reply.status_code == 201, reply.json()
    return reply.json()


def attest(api, enrolment_id: int, lessons: int, passed: bool, event_id: str | None = None) -> dict:
    body = {"lessons_completed": lessons, "assessment_passed": passed, "event_id": event_id or uuid.uuid4().hex}
    reply = api.post(f"/api/v1/milestones/enrolments/{enrolment_id}/attest/", body, format="json")
    assert reply.status_code == 200, reply.json()
    return reply.json()


@pytest.fixture
def course(api):
    """The course platform's campaign: teacher rate 10 % of tuition."""
    campaign = two_way_campaign(merchant=api.merchant, budget="5000.00")
    MilestoneProgram.objects.create(campaign=campaign, teacher_rate=D("10.00"))
    return campaign


def test_the_seeds_teacher_is_paid_300_once_through_the_attestation_api(api, course):
    teacher, student = UserFactory(), UserFactory()
    enrolment = enrol(api, course, teacher, student)  # tuition 3000.00, 12 lessons
    assert (enrolment["reward"], enrolment["status"]) == ("300.00", "pending")

    assert attest(api, enrolment["id"], 11, True)["status"] == "pending"
    assert wallet(teacher)["cash"] == "0.00"
    assert attest(api, enrolment["id"], 12, True, event_id="evt-12")["status"] == "paid"
    assert attest(api, enrolment["id"], 12, True, event_id="evt-12")["status"] == "paid"  # a replay
    assert attest(api, enrolment["id"], 13, True)["status"] == "paid"

    assert wallet(teacher)["cash"] == "300.00"
    assert LedgerTransaction.objects.filter(kind="milestone_reward").count() == 1
    assert campaign_reserve_account(course).balance == D("0.00")
    call_command("audit")


def test_an_enrolment_past_its_deadline_is_expired_by_the_worker_and_its_reserve_returns(api, course):
    from campaigns.programs.tasks import expire_due_enrolments

    teacher, student = UserFactory(), UserFactory()
    enrolment = enrol(api, course, teacher, student)
    attest(api, enrolment["id"], 11, True)
    assert campaign_budget_account(course).balance == D("4700.00")
    Enrolment.objects.filter(pk=enrolment["id"]).update(deadline=timezone.now() - timedelta(seconds=1))

    run_on_worker(expire_due_enrolments)

    wait_for(lambda: Enrolment.objects.get(pk=enrolment["id"]).status == "expired")
    assert campaign_budget_account(course).balance == D("5000.00")
    assert wallet(teacher)["cash"] == "0.00"
    call_command("audit")


# --- referral rebates (紅包雙倍返利) ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        ((-1, 1), "2.00"),  # the ×2 window covers the order: 10 % × 2 of 10.00
        ((-3, -1), "1.00"),  # the window ended an hour before the order
        ((1, 3), "1.00"),  # the window starts an hour after it
    ],
)
def test_an_invitees_order_earns_the_inviter_double_only_inside_a_double_window(api, window, expected):
    campaign = two_way_campaign(merchant=api.merchant)
    ReferralProgram.objects.create(campaign=campaign, inviter_rate=D("10.00"), window_days=30)
    now = timezone.now()
    MultiplierWindow.objects.create(
        campaign=campaign,
        starts_at=now + timedelta(hours=window[0]),
        ends_at=now + timedelta(hours=window[1]),
        factor=D("2.00"),
    )
    inviter = UserFactory()
    invitee = UserFactory(invited_by=inviter, date_joined=now - timedelta(days=1))

    order = place(api, invitee, "10.00", category="game")

    reward = wait_for(lambda: ReferralReward.objects.filter(order_id=order["id"]).first())
    assert (str(reward.amount), reward.status) == (expected, "credited")
    assert wallet(inviter)["cash"] == expected
    call_command("audit")


# --- payouts to WeChat -----------------------------------------------------------------------------------------------


def fund(user, amount: str):
    transfer(
        source=platform_account(AccountKind.PLATFORM_EXTERNAL),
        destination=ledger_account(kind=AccountKind.SHOPPER_CASH, user_id=user.pk),
        amount=D(amount),
        kind="deposit",
        idempotency_key=f"fund:{user.pk}",
        reference="test",
    )


@pytest.mark.parametrize(
    ("fault", "posts"),
    [
        ("timeout_after_create", 1),  # WeChat made the bill, the reply was lost: the worker's query finds it
        ("timeout_before_create", 2),  # no bill: the worker sends the same out_bill_no again
    ],
)
def test_a_wechat_payout_that_times_out_once_makes_exactly_one_transfer(api, fake, fault, posts):
    shopper = UserFactory()
    fund(shopper, "20.00")
    creates_before, bills_before = fake.creates, len(fake.bills)
    fake.fail_next(fault)

    payout = withdraw(shopper, "12.50")

    assert payout.status == "succeeded"
    assert len(fake.bills) - bills_before == 1
    assert fake.bills[payout.out_bill_no]["transfer_amount"] == 1250
    assert fake.creates - creates_before == posts
    keys = sorted(LedgerTransaction.objects.filter(reference=f"payout:{payout.pk}").values_list("idempotency_key"))
    assert keys == [(f"payout:{payout.pk}:reserve",), (f"payout:{payout.pk}:settle",)]
    assert wallet(shopper)["cash"] == "7.50"
    call_command("audit")
