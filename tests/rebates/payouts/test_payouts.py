"""Withdrawals to WeChat 零钱 through the real `wechatpayv3` client against a local fake WeChat Pay server."""

import json
import threading
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from common.errors import Conflict
from rebates.ledger import ledger_account, platform_account, transfer
from rebates.models import AccountKind, LedgerTransaction
from rebates.payouts import services as payouts
from rebates.payouts import wechat
from rebates.payouts.models import Payout, WechatOpenId
from rebates.payouts.tasks import payout_send
from tests.factories.accounts import MerchantStaffFactory, UserFactory
from tests.rebates.fake_wechat import FakeWechatPay, Keys, package_info_for, private_pem

PAYOUTS_URL = "/api/v1/payouts/"
NOTIFY_URL = "/api/v1/payouts/notify/wechat/"
OPENID = "o-test-openid-0000000000000"


@pytest.fixture(scope="module")
def keys():
    return Keys()  # RSA key generation once per module


@pytest.fixture
def fake(keys, settings, tmp_path):
    server = FakeWechatPay(keys, delay_seconds=1.5).start()
    for name, value in keys.write(tmp_path).items():
        setattr(settings, name, value)
    settings.WECHATPAY_GATEWAY = server.url
    settings.WECHATPAY_TEST_OPENID = OPENID
    settings.WECHATPAY_TIMEOUT_SECONDS = 0.5
    settings.WECHATPAY_RETRY_BASE_SECONDS = 0  # steps are driven by the test, not by countdowns
    settings.WECHATPAY_MAX_ATTEMPTS = 5
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # users here never log in


@pytest.fixture(autouse=True)
def enqueued(monkeypatch):
    """Publishing to the broker is recorded instead; tests run the steps themselves."""
    calls = []
    monkeypatch.setattr(payouts, "payout_enqueue", lambda pk, countdown=0: calls.append((pk, countdown)) or True)
    return calls


def fund(user, amount: str):
    transfer(
        source=platform_account(AccountKind.PLATFORM_EXTERNAL),
        destination=wallet(user),
        amount=Decimal(amount),
        kind="deposit",
        idempotency_key=f"test-fund:{user.pk}:{amount}",
        reference="test",
    )


def wallet(user):
    return ledger_account(kind=AccountKind.SHOPPER_CASH, user_id=user.pk)


def balance(account) -> Decimal:
    account.refresh_from_db()
    return account.balance


def clearing() -> Decimal:
    return balance(payouts.clearing_account())


def api_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def post_payout(client, amount="12.50", key="k-1", channel="wechat_balance"):
    return client.post(
        PAYOUTS_URL, {"amount": amount, "channel": channel}, format="json", headers={"Idempotency-Key": key}
    )


def drive(payout_id: int, max_steps: int = 10) -> Payout:
    """Run steps until nothing more is scheduled (the worker would run them after their countdowns)."""
    for _ in range(max_steps):
        if payouts.payout_attempt(payout_id=payout_id) is None:
            return Payout.objects.get(pk=payout_id)
    raise AssertionError("the payout did not settle")


def ledger_steps(payout_id: int) -> list[str]:
    return sorted(
        LedgerTransaction.objects.filter(reference=f"payout:{payout_id}").values_list("idempotency_key", flat=True)
    )


def assert_books_clean(capsys):
    call_command("audit")
    assert "audit clean" in capsys.readouterr().out
    assert payouts.payouts_match_ledger() == []


@pytest.fixture
def shopper(db):
    user = UserFactory()
    fund(user, "20.00")
    return user


# --- the happy path --------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_withdrawal_to_wechat_pays_one_bill_and_balances_the_books(fake, shopper, enqueued, capsys):
    client = api_for(shopper)
    response = post_payout(client, "12.50")
    assert response.status_code == 201, response.json()
    body = response.json()
    payout = Payout.objects.get()
    assert body["id"] == payout.pk and body["amount"] == "12.50" and body["status"] == "requested"
    assert body["out_bill_no"] == f"RP{payout.pk:020d}"
    assert enqueued == [(payout.pk, 0)]  # published after commit
    assert balance(wallet(shopper)) == Decimal("7.50")
    assert clearing() == Decimal("12.50")

    assert payout_send.apply(args=[payout.pk]).get() == "done"

    payout.refresh_from_db()
    assert payout.status == Payout.Status.SUCCEEDED and payout.completed_at is not None
    assert fake.creates == 1 and len(fake.bills) == 1
    bill = fake.bills[payout.out_bill_no]
    assert (bill["transfer_amount"], bill["openid"], bill["state"]) == (1250, OPENID, "SUCCESS")
    assert payout.transfer_bill_no == bill["transfer_bill_no"]
    assert balance(wallet(shopper)) == Decimal("7.50")
    assert clearing() == Decimal("0.00")
    assert ledger_steps(payout.pk) == [f"payout:{payout.pk}:reserve", f"payout:{payout.pk}:settle"]
    assert_books_clean(capsys)

    listed = client.get(PAYOUTS_URL).json()["results"]
    assert [(p["id"], p["status"]) for p in listed] == [(payout.pk, "succeeded")]


def test_the_bill_number_never_changes_across_attempts(fake, shopper):
    fake.fail_next("5xx", times=2)
    payout = payouts.payout_request(user=shopper, amount=Decimal("3.00"), channel="wechat_balance")
    payout = drive(payout.pk)
    assert payout.status == Payout.Status.SUCCEEDED and payout.attempts == 3
    assert list(fake.bills) == [payout.out_bill_no] == [f"RP{payout.pk:020d}"]


# --- never pay twice -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "posts"),
    [
        ("timeout_after_create", 1),  # WeChat created the bill, the reply was lost: the query finds it
        ("5xx_after_create", 1),
        ("bad_signature", 1),  # a reply we cannot trust counts as no reply
        ("timeout_before_create", 2),  # the query finds nothing, so the same out_bill_no is sent again
        ("5xx", 2),
    ],
)
def test_an_unknown_outcome_is_queried_before_any_retry_and_pays_exactly_once(fake, shopper, fault, posts, capsys):
    fake.fail_next(fault)
    payout = payouts.payout_request(user=shopper, amount=Decimal("12.50"), channel="wechat_balance")

    payout = drive(payout.pk)

    assert payout.status == Payout.Status.SUCCEEDED
    assert len(fake.bills) == 1 and fake.bills[payout.out_bill_no]["transfer_amount"] == 1250
    assert fake.creates == posts
    # The first reply was not trusted: the very next request to WeChat is a query, never a second transfer.
    methods = [m for m, _ in fake.requests]
    assert methods[:2] == ["POST", "GET"]
    assert ledger_steps(payout.pk) == [f"payout:{payout.pk}:reserve", f"payout:{payout.pk}:settle"]
    assert balance(wallet(shopper)) == Decimal("7.50") and clearing() == Decimal("0.00")
    assert_books_clean(capsys)


def test_timeout_then_query_completes_the_payout_in_one_step(fake, shopper):
    fake.fail_next("timeout_after_create")
    payout = payouts.payout_request(user=shopper, amount=Decimal("5.00"), channel="wechat_balance")
    assert payouts.payout_attempt(payout_id=payout.pk) is None
    payout.refresh_from_db()
    assert payout.status == Payout.Status.SUCCEEDED and payout.attempts == 1
    assert [m for m, _ in fake.requests] == ["POST", "GET"]


def test_while_the_outcome_stays_unknown_money_waits_in_clearing_until_an_operator_retries(
    fake, shopper, settings, capsys
):
    settings.WECHATPAY_MAX_ATTEMPTS = 2
    fake.fail_next("5xx")
    fake.fail_next("5xx", times=2, route="query")
    payout = payouts.payout_request(user=shopper, amount=Decimal("4.00"), channel="wechat_balance")

    drive(payout.pk)
    payout.refresh_from_db()
    assert payout.status == Payout.Status.RETRYING and payout.next_attempt_at is None
    assert "gave up after 2 attempts" in payout.last_error
    assert payouts.payout_attempt(payout_id=payout.pk) is None  # not due: nothing is sent on its own
    assert fake.bills == {}
    assert clearing() == Decimal("4.00") and balance(wallet(shopper)) == Decimal("16.00")  # not refunded blindly
    assert_books_clean(capsys)  # an open payout has its reserve only

    queued, skipped = payouts.payouts_retry(payout_ids=[payout.pk])
    assert (queued, skipped) == ([payout.pk], [])
    payout = drive(payout.pk)
    assert payout.status == Payout.Status.SUCCEEDED and len(fake.bills) == 1
    assert_books_clean(capsys)


# --- failures refund once --------------------------------------------------------------------------------------


def test_a_failed_bill_refunds_the_wallet_once(fake, shopper, capsys):
    fake.final_state = "FAIL"
    payout = payouts.payout_request(user=shopper, amount=Decimal("12.50"), channel="wechat_balance")
    assert balance(wallet(shopper)) == Decimal("7.50")

    payout = drive(payout.pk)

    assert payout.status == Payout.Status.FAILED and payout.fail_reason == "PAYEE_ACCOUNT_ABNORMAL"
    assert balance(wallet(shopper)) == Decimal("20.00") and clearing() == Decimal("0.00")
    # Everything that could repeat it: another step, the same bill again, an operator retry.
    assert payouts.payout_attempt(payout_id=payout.pk) is None
    payouts.payout_record_bill(payout_id=payout.pk, bill=wechat.Bill(payout.out_bill_no, "FAIL", amount_fen=1250))
    assert payouts.payouts_retry(payout_ids=[payout.pk]) == ([], [payout.pk])
    assert ledger_steps(payout.pk) == [f"payout:{payout.pk}:refund", f"payout:{payout.pk}:reserve"]
    assert balance(wallet(shopper)) == Decimal("20.00")
    assert fake.creates == 1
    assert_books_clean(capsys)


def test_a_refused_transfer_is_refunded_only_after_the_query_confirms_no_bill(fake, shopper, capsys):
    fake.fail_next("reject")
    payout = payouts.payout_request(user=shopper, amount=Decimal("2.00"), channel="wechat_balance")
    payout = drive(payout.pk)
    assert payout.status == Payout.Status.FAILED and payout.fail_reason == "PARAM_ERROR"
    assert [m for m, _ in fake.requests] == ["POST", "GET"]
    assert balance(wallet(shopper)) == Decimal("20.00")
    assert_books_clean(capsys)


def test_retrying_a_succeeded_payout_does_nothing(fake, shopper, admin_client):
    payout = payouts.payout_request(user=shopper, amount=Decimal("12.50"), channel="wechat_balance")
    drive(payout.pk)
    requests_before, steps_before = len(fake.requests), ledger_steps(payout.pk)

    assert payouts.payouts_retry(payout_ids=[payout.pk]) == ([], [payout.pk])
    assert payouts.payout_attempt(payout_id=payout.pk) is None
    assert payout_send.apply(args=[payout.pk]).get() == "done"
    response = admin_client.post(
        "/admin/rebates/payout/",
        {"action": "retry_payouts", "_selected_action": [payout.pk]},
        follow=True,
    )
    assert "already finished" in response.content.decode()

    assert len(fake.requests) == requests_before
    assert ledger_steps(payout.pk) == steps_before
    payout.refresh_from_db()
    assert payout.status == Payout.Status.SUCCEEDED
    assert balance(wallet(shopper)) == Decimal("7.50") and clearing() == Decimal("0.00")


def test_admin_retry_queues_an_open_payout(fake, shopper, admin_client, enqueued, django_capture_on_commit_callbacks):
    fake.fail_next("5xx")
    fake.fail_next("5xx", route="query")
    payout = payouts.payout_request(user=shopper, amount=Decimal("1.00"), channel="wechat_balance")
    payouts.payout_attempt(payout_id=payout.pk)
    payout.refresh_from_db()
    assert payout.status == Payout.Status.RETRYING
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/rebates/payout/", {"action": "retry_payouts", "_selected_action": [payout.pk]}, follow=True
        )
    assert "1 payout queued" in response.content.decode()
    assert (payout.pk, 0) in enqueued
    assert drive(payout.pk).status == Payout.Status.SUCCEEDED


# --- the API ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_posts_with_one_key_make_one_payout(fake, shopper):
    barrier = threading.Barrier(4)
    statuses = []

    def post():
        try:
            client = api_for(shopper)
            barrier.wait()
            statuses.append(post_payout(client, "5.00", key="same-key").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert Payout.objects.count() == 1
    assert statuses.count(201) >= 1 and set(statuses) <= {201, 409}
    assert balance(wallet(shopper)) == Decimal("15.00") and clearing() == Decimal("5.00")
    again = post_payout(api_for(shopper), "5.00", key="same-key")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == Payout.objects.get().pk


def test_insufficient_balance_is_a_409_and_writes_nothing(fake, shopper):
    client = api_for(shopper)
    response = post_payout(client, "20.01")
    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_funds"
    assert "¥20.00" in response.json()["message"]
    assert not Payout.objects.exists()
    assert not LedgerTransaction.objects.filter(reference__startswith="payout:").exists()
    assert balance(wallet(shopper)) == Decimal("20.00")
    assert post_payout(client, "20.00").status_code == 201  # the key was freed; the whole balance can go


@pytest.mark.parametrize(
    ("amount", "channel", "code"),
    [
        ("0", "wechat_balance", "invalid"),
        ("-1.00", "wechat_balance", "invalid"),
        ("1.234", "wechat_balance", "invalid"),
        (1.5, "wechat_balance", "invalid"),  # a JSON float
        ("abc", "wechat_balance", "invalid"),
        ("1.00", "bank", "invalid"),
        ("1.00", "wallet", "unsupported_channel"),
        ("0.05", "wechat_balance", "amount_below_minimum"),
        ("200.01", "wechat_balance", "amount_above_maximum"),
    ],
)
def test_bad_input_is_a_400_and_writes_nothing(fake, shopper, amount, channel, code):
    response = post_payout(api_for(shopper), amount, channel=channel)
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == code
    assert not Payout.objects.exists()
    assert balance(wallet(shopper)) == Decimal("20.00")


def test_the_idempotency_key_is_required(fake, shopper):
    response = api_for(shopper).post(PAYOUTS_URL, {"amount": "1.00", "channel": "wechat_balance"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "idempotency_key_required"


def test_merchant_staff_cannot_withdraw(fake, db):
    staff = MerchantStaffFactory()
    response = post_payout(api_for(staff.user), "1.00")
    assert response.status_code == 403 and response.json()["code"] == "not_a_shopper"


def test_a_shopper_lists_only_their_own_payouts(fake, shopper):
    other = UserFactory()
    fund(other, "9.00")
    mine = payouts.payout_request(user=shopper, amount=Decimal("1.00"), channel="wechat_balance")
    payouts.payout_request(user=other, amount=Decimal("2.00"), channel="wechat_balance")
    listed = api_for(shopper).get(PAYOUTS_URL).json()["results"]
    assert [p["id"] for p in listed] == [mine.pk]
    assert APIClient().get(PAYOUTS_URL).status_code == 401


def test_without_a_linked_wechat_account_the_withdrawal_is_refused(fake, shopper, settings):
    settings.WECHATPAY_TEST_OPENID = ""
    response = post_payout(api_for(shopper), "1.00")
    assert response.status_code == 409 and response.json()["code"] == "wechat_not_linked"
    WechatOpenId.objects.create(user=shopper, appid=settings.WECHATPAY_APPID, openid="o-linked-openid")
    assert post_payout(api_for(shopper), "1.00", key="k-2").status_code == 201
    assert Payout.objects.get().openid == "o-linked-openid"


def test_the_test_openid_is_never_used_against_the_real_gateway(fake, shopper, settings):
    settings.WECHATPAY_GATEWAY = wechat.REAL_GATEWAY
    with pytest.raises(Conflict, match="Link your WeChat account"):
        payouts.payout_request(user=shopper, amount=Decimal("1.00"), channel="wechat_balance")


def test_without_wechat_settings_the_withdrawal_is_a_503(fake, shopper, settings):
    settings.WECHATPAY_MCHID = ""
    response = post_payout(api_for(shopper), "1.00")
    assert response.status_code == 503 and response.json()["code"] == "wechat_not_configured"
    assert not Payout.objects.exists()


# --- notifications ---------------------------------------------------------------------------------------------


@pytest.fixture
def waiting_payout(fake, shopper):
    """A payout whose bill WeChat accepted and now waits for the user to confirm."""
    fake.final_state = "WAIT_USER_CONFIRM"
    payout = payouts.payout_request(user=shopper, amount=Decimal("12.50"), channel="wechat_balance")
    assert payouts.payout_attempt(payout_id=payout.pk) is not None  # a poll is scheduled
    payout.refresh_from_db()
    assert payout.status == Payout.Status.IN_FLIGHT and payout.wechat_state == "WAIT_USER_CONFIRM"
    return payout


def notify(headers, body):
    return APIClient().post(NOTIFY_URL, data=body, content_type="application/json", headers=headers)


def test_a_valid_success_notification_settles_and_its_replay_changes_nothing(fake, waiting_payout, shopper, capsys):
    fake.finish(waiting_payout.out_bill_no, "SUCCESS")
    headers, body = fake.notification(waiting_payout.out_bill_no)

    assert notify(headers, body).status_code == 204
    waiting_payout.refresh_from_db()
    assert waiting_payout.status == Payout.Status.SUCCEEDED
    assert notify(headers, body).status_code == 204  # WeChat delivers again until it hears 2xx: same effect
    assert ledger_steps(waiting_payout.pk) == [
        f"payout:{waiting_payout.pk}:reserve",
        f"payout:{waiting_payout.pk}:settle",
    ]
    assert balance(wallet(shopper)) == Decimal("7.50") and clearing() == Decimal("0.00")
    assert fake.creates == 1
    assert_books_clean(capsys)


def test_a_fail_notification_refunds_once(fake, waiting_payout, shopper, capsys):
    fake.finish(waiting_payout.out_bill_no, "FAIL", "TRANSFER_RISK")
    headers, body = fake.notification(waiting_payout.out_bill_no)
    assert notify(headers, body).status_code == 204
    assert notify(headers, body).status_code == 204
    waiting_payout.refresh_from_db()
    assert waiting_payout.status == Payout.Status.FAILED and waiting_payout.fail_reason == "TRANSFER_RISK"
    assert balance(wallet(shopper)) == Decimal("20.00")
    assert ledger_steps(waiting_payout.pk) == [
        f"payout:{waiting_payout.pk}:refund",
        f"payout:{waiting_payout.pk}:reserve",
    ]
    assert_books_clean(capsys)


def _forgeries(fake, out_bill_no):
    headers, body = fake.notification(out_bill_no)
    text = body.decode()
    # 1. signed by someone else's key
    other = Keys().platform
    yield "foreign key", {**headers, **fake.signed_headers(text, key=other)}, body
    # 2. a genuine signature over another body
    tampered = text.replace('"MCHTRANSFER.BILL.FINISHED"', '"MCHTRANSFER.BILL.FINISHED" ')
    yield "tampered body", headers, tampered.encode()
    # 3. no signature at all
    yield "unsigned", {"Content-Type": "application/json"}, body
    # 4. an unknown key serial (the library would go and download certificates for it)
    yield "unknown serial", {**headers, "Wechatpay-Serial": "PUB_KEY_ID_SOMEONE_ELSE"}, body
    # 5. properly signed but old: a captured notification replayed later
    yield "stale", fake.signed_headers(text, timestamp=int(headers["Wechatpay-Timestamp"]) - 3600), body
    # 6. properly signed, but the resource was encrypted with another APIv3 key
    forged = FakeWechatPay(Keys(platform=fake.keys.platform, merchant=fake.keys.merchant))
    forged.bills = fake.bills
    h, b = forged.notification(out_bill_no)
    forged._server.server_close()
    yield "wrong apiv3 key", h, b


def test_forged_notifications_are_refused_and_move_nothing(fake, waiting_payout, shopper):
    fake.finish(waiting_payout.out_bill_no, "SUCCESS")
    for name, headers, body in _forgeries(fake, waiting_payout.out_bill_no):
        response = notify(headers, body)
        assert response.status_code in (400, 401), name
        assert response.json()["code"] in ("invalid_signature", "stale_notification"), name
    waiting_payout.refresh_from_db()
    assert waiting_payout.status == Payout.Status.IN_FLIGHT
    assert ledger_steps(waiting_payout.pk) == [f"payout:{waiting_payout.pk}:reserve"]
    assert clearing() == Decimal("12.50") and balance(wallet(shopper)) == Decimal("7.50")


def test_a_notification_for_an_unknown_bill_is_a_404(fake, waiting_payout):
    fake.bills["RP99999999999999999999"] = {**fake.bills[waiting_payout.out_bill_no]}
    fake.bills["RP99999999999999999999"]["out_bill_no"] = "RP99999999999999999999"
    headers, body = fake.notification("RP99999999999999999999")
    assert notify(headers, body).status_code == 404


def test_a_notification_whose_amount_differs_moves_nothing(fake, waiting_payout):
    fake.finish(waiting_payout.out_bill_no, "SUCCESS")
    fake.bills[waiting_payout.out_bill_no]["transfer_amount"] = 99999
    headers, body = fake.notification(waiting_payout.out_bill_no)
    assert notify(headers, body).status_code == 204
    waiting_payout.refresh_from_db()
    assert waiting_payout.status == Payout.Status.RETRYING and "does not match" in waiting_payout.last_error
    assert ledger_steps(waiting_payout.pk) == [f"payout:{waiting_payout.pk}:reserve"]


def test_polling_finishes_a_bill_when_the_notification_never_comes(fake, waiting_payout):
    fake.finish(waiting_payout.out_bill_no, "SUCCESS")
    assert drive(waiting_payout.pk).status == Payout.Status.SUCCEEDED
    assert fake.creates == 1


# --- WAIT_USER_CONFIRM: the user confirms receipt in WeChat with package_info -----------------------------------


def test_a_bill_waiting_for_the_user_returns_its_package_info_until_it_is_final(fake, waiting_payout, shopper):
    assert waiting_payout.package_info == package_info_for(waiting_payout.out_bill_no)
    client = api_for(shopper)
    (listed,) = client.get(PAYOUTS_URL).json()["results"]
    assert (listed["status"], listed["wechat_state"]) == ("in_flight", "WAIT_USER_CONFIRM")
    assert listed["package_info"] == package_info_for(waiting_payout.out_bill_no)

    # A poll (the query reply carries no package_info) keeps the one we have.
    Payout.objects.filter(pk=waiting_payout.pk).update(next_attempt_at=timezone.now())
    payouts.payout_attempt(payout_id=waiting_payout.pk)
    waiting_payout.refresh_from_db()
    assert waiting_payout.package_info == package_info_for(waiting_payout.out_bill_no) and fake.creates == 1

    fake.finish(waiting_payout.out_bill_no, "SUCCESS")  # the user confirmed in WeChat
    assert drive(waiting_payout.pk).status == Payout.Status.SUCCEEDED
    (listed,) = client.get(PAYOUTS_URL).json()["results"]
    assert (listed["status"], listed["package_info"]) == ("succeeded", None)


def test_a_lost_create_reply_is_asked_again_for_its_package_info(fake, shopper, capsys):
    fake.final_state = "WAIT_USER_CONFIRM"
    fake.fail_next("timeout_after_create")  # WeChat made the bill; its reply (with package_info) was lost
    payout = payouts.payout_request(user=shopper, amount=Decimal("3.00"), channel="wechat_balance")
    payouts.payout_attempt(payout_id=payout.pk)
    payout.refresh_from_db()
    assert (payout.wechat_state, payout.package_info) == ("WAIT_USER_CONFIRM", "")  # found by the query
    assert api_for(shopper).get(PAYOUTS_URL).json()["results"][0]["package_info"] is None

    Payout.objects.filter(pk=payout.pk).update(next_attempt_at=timezone.now())
    payouts.payout_attempt(payout_id=payout.pk)  # queries, then sends the same out_bill_no: the same bill comes back
    payout.refresh_from_db()
    assert payout.package_info == package_info_for(payout.out_bill_no)
    assert len(fake.bills) == 1 and fake.creates == 2
    assert ledger_steps(payout.pk) == [f"payout:{payout.pk}:reserve"]
    assert_books_clean(capsys)


def test_settled_payouts_are_announced_to_the_merchants_whose_rebates_filled_the_wallet(
    fake, shopper, settings, monkeypatch
):
    from rebates.webhooks import services as webhooks
    from rebates.webhooks.models import WebhookDelivery
    from tests.factories.campaigns import two_way_campaign
    from tests.rebates.webhooks.test_webhooks import credit, spent_order

    settings.WEBHOOKS_ALLOW_PRIVATE_HOSTS = True
    monkeypatch.setattr(webhooks, "webhook_publish", lambda pk, countdown=0: True)
    campaign = two_way_campaign()
    credit(spent_order(campaign, shopper))  # this merchant's campaign paid the shopper cash
    events = ["payout.succeeded", "payout.failed"]
    mine = webhooks.webhook_endpoint_create(merchant=campaign.merchant, url="http://127.0.0.1:9/", events=events)
    unrelated = webhooks.webhook_endpoint_create(
        merchant=MerchantStaffFactory().merchant, url="http://127.0.0.1:9/", events=events
    )
    payout = payouts.payout_request(user=shopper, amount=Decimal("2.00"), channel="wechat_balance")
    drive(payout.pk)
    (delivery,) = WebhookDelivery.objects.all()
    assert (delivery.endpoint_id, delivery.event_type) == (mine.pk, "payout.succeeded")
    body = json.loads(delivery.body)
    assert body["data"]["payout"] | {"created_at": None, "completed_at": None} == {
        "id": payout.pk,
        "beneficiary_user_id": shopper.pk,
        "amount": "2.00",
        "currency": "CNY",
        "channel": "wechat_balance",
        "status": "succeeded",
        "out_bill_no": payout.out_bill_no,
        "fail_reason": "",
        "created_at": None,
        "completed_at": None,
    }
    assert not WebhookDelivery.objects.filter(endpoint=unrelated).exists()
    payouts.payouts_retry(payout_ids=[payout.pk])  # a terminal payout: nothing moves, nothing is announced again
    assert WebhookDelivery.objects.count() == 1


# --- the sweeper and the audit ---------------------------------------------------------------------------------


def test_the_sweeper_republishes_overdue_payouts_only(fake, shopper, enqueued):
    payout = payouts.payout_request(user=shopper, amount=Decimal("1.00"), channel="wechat_balance")
    assert payouts.payouts_due() == []  # just created: its own task is on the way
    assert payouts.payouts_due(grace_seconds=-60) == [payout.pk]
    Payout.objects.filter(pk=payout.pk).update(next_attempt_at=payout.created_at.replace(year=2020))
    assert payouts.payouts_sweep() == 1 and enqueued[-1] == (payout.pk, 0)
    drive(payout.pk)
    assert payouts.payouts_due(grace_seconds=-60) == []


def test_the_audit_finds_a_payout_whose_books_do_not_match(fake, shopper):
    payout = payouts.payout_request(user=shopper, amount=Decimal("3.00"), channel="wechat_balance")
    assert payouts.payouts_match_ledger() == []
    # Marked paid without its settle leg: the clearing account still holds the money.
    Payout.objects.filter(pk=payout.pk).update(status="succeeded", completed_at=payout.created_at)
    findings = payouts.payouts_match_ledger()
    assert f"payout {payout.pk} (succeeded) has ledger legs ['reserve'], expected ['reserve', 'settle']" in findings
    assert "payout clearing holds 3.00 but open payouts total 0.00" in findings


def test_request_signatures_are_checked_by_the_fake(fake, shopper, settings, tmp_path):
    """The fake is strict: a client with the wrong merchant key is refused (so passing tests mean real signing)."""
    wrong = tmp_path / "wrong.pem"
    wrong.write_text(private_pem(Keys().merchant))
    settings.WECHATPAY_PRIVATE_KEY_PATH = str(wrong)
    reply = wechat.transfer_query(out_bill_no="RP00000000000000000001")
    assert reply.outcome is wechat.Outcome.UNKNOWN and reply.http_status == 401
    assert fake.rejected_auth == 1
