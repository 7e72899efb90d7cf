"""The wallet page: balances from the ledger and the rebate history, for shoppers and merchant staff."""

import re
import threading
import uuid
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connections
from django.test import Client

from accounts.models import MerchantStaff
from common.money import to_minor
from packets.services import LineInput, order_create, packet_grant
from rebates.ledger import ledger_account, platform_account, transfer
from rebates.models import AccountKind
from rebates.payouts import services as payouts
from rebates.payouts import wechat, withdrawals
from rebates.payouts.models import Payout
from rebates.services import rebates_credit_for_redemption
from tests.factories.accounts import MerchantFactory, UserFactory
from tests.factories.campaigns import two_way_campaign

D = Decimal
pytestmark = pytest.mark.django_db


def spend_packet(campaign, shopper, gross="50.00"):
    """The shopper spends a packet of `campaign` on an order of `gross`; returns the order (rebates not credited)."""
    packet = packet_grant(rule=campaign.earn_rules.get(), holder=shopper)
    return order_create(
        merchant=campaign.merchant,
        shopper=shopper,
        order_no=f"T-{uuid.uuid4().hex[:8]}",
        lines=[LineInput("SKU-1", "Mango", "fruit", 1, D(gross))],
        gross_amount=D(gross),
        packet_code=packet.code,
    )


def credit(order):
    rebates_credit_for_redemption(redemption_id=order.redemption.pk)


@pytest.fixture
def shopper():
    return UserFactory()


@pytest.fixture
def shopper_client(client, shopper):
    client.force_login(shopper)
    return client


def test_wallet_requires_login(client):
    response = client.get("/wallet/")
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_wallet_shows_cash_and_points_balances(shopper_client, shopper):
    cash_campaign = two_way_campaign()
    points_campaign = two_way_campaign(holder_form="points", points_per_cny=100)
    credit(spend_packet(cash_campaign, shopper, "50.00"))  # 5 % of 50.00 = 2.50 cash
    credit(spend_packet(points_campaign, shopper, "60.00"))  # 5 % of 60.00 = 3.00 → 300 points

    response = shopper_client.get("/wallet/")

    assert [(b["key"], b["display"]) for b in response.context["balances"]] == [
        ("cash", "¥2.50"),
        ("points", "300 points"),
        ("cash_pending", "¥0.00"),
        ("points_pending", "0 points"),
    ]
    html = response.content.decode()
    assert '<p class="amount amount--big mb-0" data-balance="cash">¥2.50</p>' in html
    assert '<p class="amount amount--big mb-0" data-balance="points">300 points</p>' in html


def test_wallet_of_a_new_shopper_shows_zero_and_an_empty_history(shopper_client):
    html = shopper_client.get("/wallet/").content.decode()
    assert "¥0.00" in html and "0 points" in html
    assert "No rebates yet." in html


def test_wallet_history_links_the_order_with_role_amount_form_and_state(shopper_client, shopper):
    order = spend_packet(two_way_campaign(), shopper)
    credit(order)

    html = shopper_client.get("/wallet/").content.decode()

    assert f'<a href="/orders/{order.pk}/">{order.order_no}</a>' in html
    assert "as holder" in html and "+¥2.50" in html and "cash" in html and "Credited" in html
    assert "as issuer" not in html  # the merchant's leg is not the shopper's


def test_wallet_lists_a_redemption_whose_rebates_are_being_calculated(shopper_client, shopper):
    order = spend_packet(two_way_campaign(), shopper)  # the worker has not run

    html = shopper_client.get("/wallet/").content.decode()

    assert f'<a href="/orders/{order.pk}/">{order.order_no}</a>' in html
    assert "Being calculated" in html


def test_wallet_shows_only_my_rebates(shopper_client):
    other_order = spend_packet(two_way_campaign(), UserFactory())
    credit(other_order)
    assert other_order.order_no not in shopper_client.get("/wallet/").content.decode()


def test_merchant_staff_wallet_shows_marketing_credit_and_issuer_rebates_without_order_links(client):
    merchant = MerchantFactory()
    staff = UserFactory()
    MerchantStaff.objects.create(merchant=merchant, user=staff, role=MerchantStaff.Role.ADMIN)
    order = spend_packet(two_way_campaign(merchant=merchant), UserFactory())
    credit(order)
    client.force_login(staff)

    response = client.get("/wallet/")

    assert ("marketing_credit", "¥5.00") in [(b["key"], b["display"]) for b in response.context["balances"]]
    html = response.content.decode()
    assert "as issuer" in html and "+¥5.00" in html and order.order_no in html
    assert f'href="/orders/{order.pk}/"' not in html


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("zh-hans", ["钱包", "现金余额", "积分", "返利记录", "作为红包持有人", "已到账", "现金"]),
        ("en", ["Wallet", "Cash balance", "Points", "Rebate history", "as holder", "Credited"]),
    ],
)
def test_wallet_renders_in_each_language(shopper_client, shopper, language, expected):
    credit(spend_packet(two_way_campaign(), shopper))
    html = shopper_client.get("/wallet/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert f'<html lang="{language}">' in html
    for text in expected:
        assert text in html


# --- withdraw to WeChat --------------------------------------------------------------------------------------------

OPENID = "o-page-test-openid-000000000"


@pytest.fixture
def wechat_ready(settings):
    """WeChat Pay configured (a fake gateway, the demo openid): requesting a payout needs no network, the sending is
    a task; `enqueued` records it instead of publishing."""
    for name, value in {
        "WECHATPAY_MCHID": "1900000001",
        "WECHATPAY_APPID": "wx0000000000000001",
        "WECHATPAY_PRIVATE_KEY_PATH": "/nonexistent/merchant.pem",
        "WECHATPAY_CERT_SERIAL_NO": "SERIAL",
        "WECHATPAY_APIV3_KEY": "k" * 32,
        "WECHATPAY_PUBLIC_KEY_PATH": "/nonexistent/platform.pem",
        "WECHATPAY_PUBLIC_KEY_ID": "PUB_KEY_ID_TEST",
        "WECHATPAY_GATEWAY": "http://127.0.0.1:9",
        "WECHATPAY_TEST_OPENID": OPENID,
    }.items():
        setattr(settings, name, value)


@pytest.fixture
def enqueued(monkeypatch):
    calls = []
    monkeypatch.setattr(payouts, "payout_enqueue", lambda pk, countdown=0: calls.append(pk) or True)
    return calls


def fund(user, amount: str) -> None:
    transfer(
        source=platform_account(AccountKind.PLATFORM_EXTERNAL),
        destination=ledger_account(kind=AccountKind.SHOPPER_CASH, user_id=user.pk),
        amount=D(amount),
        kind="deposit",
        idempotency_key=f"test-fund:{user.pk}:{amount}",
        reference="test",
    )


def cash(user) -> Decimal:
    return withdrawals.cash_balance(user)


@pytest.fixture
def cash_12_50(shopper, wechat_ready, enqueued):
    fund(shopper, "12.50")


def withdraw_form(client) -> str:
    """Open the wallet; the withdraw form's one-time token."""
    html = client.get("/wallet/").content.decode()
    return re.search(r'<input type="hidden" name="token" value="([0-9a-f-]{36})">', html).group(1)


def withdraw(client, amount, token=None, **headers):
    return client.post("/wallet/withdraw/", {"token": token or withdraw_form(client), "amount": amount}, **headers)


def test_the_wallet_offers_to_withdraw_the_whole_cash_balance(shopper_client, cash_12_50):
    html = shopper_client.get("/wallet/").content.decode()
    assert 'action="/wallet/withdraw/"' in html
    assert '<label for="id_amount">Amount (¥)</label>' in html
    assert 'name="amount" id="id_amount" value="12.50"' in html
    assert "Withdrawable: ¥12.50." in html and "¥0.10 to ¥200.00 per withdrawal." in html


def test_withdrawing_requests_one_payout_through_the_payout_service(
    shopper_client, shopper, cash_12_50, enqueued, django_capture_on_commit_callbacks
):
    token = withdraw_form(shopper_client)
    with django_capture_on_commit_callbacks(execute=True):
        response = withdraw(shopper_client, "12.50", token)

    payout = Payout.objects.get()
    assert response.status_code == 302 and response.url == "/wallet/#withdrawals"
    assert (payout.beneficiary, payout.amount, payout.channel) == (shopper, D("12.50"), "wechat_balance")
    assert (payout.status, payout.openid) == (Payout.Status.REQUESTED, OPENID)
    assert enqueued == [payout.pk]
    assert cash(shopper) == D("0.00")
    html = shopper_client.get(response.url).content.decode()
    assert f"Withdrawal of ¥12.50 to your WeChat balance requested (bill {payout.out_bill_no})." in html
    call_command("audit")


def test_submitting_the_same_withdraw_form_twice_makes_one_payout(shopper_client, shopper, cash_12_50):
    token = withdraw_form(shopper_client)

    first = withdraw(shopper_client, "5.00", token)
    second = withdraw(shopper_client, "5.00", token)  # the back button's resubmit, or a second tap

    assert first.status_code == second.status_code == 302
    assert Payout.objects.count() == 1 and cash(shopper) == D("7.50")
    assert (
        "was already requested — here it is. Nothing was taken twice."
        in shopper_client.get("/wallet/").content.decode()
    )
    call_command("audit")


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_submits_of_one_withdraw_form_make_one_payout(wechat_ready, enqueued):
    shopper = UserFactory()
    fund(shopper, "12.50")
    browser = Client()
    browser.force_login(shopper)
    token = withdraw_form(browser)
    cookies = browser.cookies
    barrier, replies = threading.Barrier(2), []

    def submit():
        tab = Client()
        tab.cookies = cookies
        barrier.wait()
        try:
            replies.append(tab.post("/wallet/withdraw/", {"token": token, "amount": "10.00"}))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert [r.status_code for r in replies] == [302, 302]
    assert Payout.objects.count() == 1 and cash(shopper) == D("2.50")
    call_command("audit")


def test_a_withdraw_token_this_session_never_issued_is_refused_and_nothing_is_written(
    shopper_client, shopper, cash_12_50
):
    response = withdraw(shopper_client, "5.00", str(uuid.uuid4()))
    assert response.status_code == 409
    assert "This page has expired. Please check the amount and submit again." in response.content.decode()
    assert not Payout.objects.exists() and cash(shopper) == D("12.50")
    call_command("audit")


def test_more_than_the_cash_balance_is_refused_next_to_the_field_and_nothing_is_written(
    shopper_client, shopper, cash_12_50
):
    response = withdraw(shopper_client, "12.51")

    assert response.status_code == 400
    html = response.content.decode()
    assert (
        '<p class="field__error" id="amount_error" role="alert">That is more than your withdrawable cash of ¥12.50.</p>'
        in html
    )
    assert 'value="12.51"' in html and 'aria-invalid="true"' in html  # what was typed stays, to be corrected
    assert not Payout.objects.exists() and cash(shopper) == D("12.50")
    call_command("audit")


def test_less_than_the_minimum_is_refused_next_to_the_field(shopper_client, shopper, cash_12_50):
    response = withdraw(shopper_client, "0.09")
    assert response.status_code == 400
    assert 'id="amount_error" role="alert">A withdrawal is at least ¥0.10.</p>' in response.content.decode()
    assert not Payout.objects.exists() and cash(shopper) == D("12.50")
    call_command("audit")


def test_more_than_one_transfer_may_carry_is_refused_and_the_form_offers_the_most(
    shopper_client, shopper, wechat_ready, enqueued
):
    fund(shopper, "300.00")
    assert 'id="id_amount" value="200.00"' in shopper_client.get("/wallet/").content.decode()

    response = withdraw(shopper_client, "250.00")

    assert response.status_code == 400
    assert "One withdrawal is at most ¥200.00. Withdraw the rest in another one." in response.content.decode()
    assert not Payout.objects.exists() and cash(shopper) == D("300.00")
    call_command("audit")


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("-5", "Enter an amount in yuan with at most two decimals, like 12.50."),
        ("1.234", "Enter an amount in yuan with at most two decimals, like 12.50."),
        ("abc", "Enter an amount in yuan with at most two decimals, like 12.50."),
        ("1e1", "Enter an amount in yuan with at most two decimals, like 12.50."),
        ("NaN", "Enter an amount in yuan with at most two decimals, like 12.50."),
        ("", "Enter the amount to withdraw."),
    ],
)
def test_malformed_amounts_are_refused_with_a_clear_message_and_nothing_is_written(
    shopper_client, shopper, cash_12_50, typed, message
):
    response = withdraw(shopper_client, typed)
    assert response.status_code == 400
    assert f'id="amount_error" role="alert">{message}</p>' in response.content.decode()
    assert not Payout.objects.exists() and cash(shopper) == D("12.50")
    call_command("audit")


def test_an_amount_typed_the_chinese_way_is_accepted(shopper_client, cash_12_50):
    withdraw(shopper_client, "￥１２.５０")
    assert Payout.objects.get().amount == D("12.50")


def test_a_corrected_amount_goes_through_with_the_same_form(shopper_client, shopper, cash_12_50):
    token = withdraw_form(shopper_client)
    assert withdraw(shopper_client, "99.00", token).status_code == 400
    assert withdraw(shopper_client, "9.00", token).status_code == 302
    assert Payout.objects.get().amount == D("9.00")
    call_command("audit")


def test_a_balance_spent_after_the_check_is_refused_by_the_ledger_next_to_the_field(
    shopper_client, shopper, cash_12_50, monkeypatch
):
    """Spent in another tab between the page's check and the request: the payout service refuses, nothing stays."""
    token = withdraw_form(shopper_client)
    monkeypatch.setattr(withdrawals, "cash_balance", lambda user: D("1000.00"))

    response = withdraw(shopper_client, "20.00", token)

    assert response.status_code == 409
    assert "Your cash balance no longer covers this amount." in response.content.decode()
    monkeypatch.undo()
    assert not Payout.objects.exists() and cash(shopper) == D("12.50")
    call_command("audit")


def test_without_a_linked_wechat_account_the_wallet_says_so_instead_of_a_form(
    shopper_client, shopper, cash_12_50, settings
):
    settings.WECHATPAY_TEST_OPENID = ""
    html = shopper_client.get("/wallet/").content.decode()
    assert "Your account is not linked to WeChat yet, so there is nowhere to send the money." in html
    assert 'action="/wallet/withdraw/"' not in html


def test_a_withdrawal_posted_without_a_linked_wechat_account_is_refused_and_nothing_is_written(
    shopper_client, shopper, cash_12_50, settings
):
    token = withdraw_form(shopper_client)
    settings.WECHATPAY_TEST_OPENID = ""

    response = withdraw(shopper_client, "5.00", token)

    assert response.status_code == 409
    assert "Your account is not linked to WeChat yet" in response.content.decode()
    assert not Payout.objects.exists() and cash(shopper) == D("12.50")
    call_command("audit")


def test_when_wechat_pay_is_not_configured_the_wallet_says_withdrawals_are_unavailable(shopper_client, shopper):
    fund(shopper, "12.50")
    html = shopper_client.get("/wallet/").content.decode()
    assert "Withdrawals to WeChat are not available right now." in html
    assert 'action="/wallet/withdraw/"' not in html


def test_too_little_cash_to_withdraw_is_explained_and_the_button_is_off(shopper_client, shopper, wechat_ready):
    fund(shopper, "0.05")
    html = shopper_client.get("/wallet/").content.decode()
    assert "You can withdraw once you have at least ¥0.10 in cash." in html
    assert re.search(r'<button type="submit" class="btn btn--block" disabled>', html)


def test_the_withdrawals_list_shows_each_state_with_its_bill_number(shopper_client, shopper, cash_12_50):
    def request(amount):
        return payouts.payout_request(user=shopper, amount=D(amount), channel="wechat_balance")

    def bill(payout, state, reason=""):
        payouts.payout_record_bill(
            payout_id=payout.pk,
            bill=wechat.Bill(payout.out_bill_no, state, "TB1", to_minor(payout.amount), fail_reason=reason),
        )

    requested, moving, paid, failed = request("1.00"), request("2.00"), request("3.00"), request("4.00")
    bill(moving, "PROCESSING")
    bill(paid, "SUCCESS")
    bill(failed, "FAIL", "ACCOUNT_FROZEN")

    html = shopper_client.get("/wallet/").content.decode()

    states = dict(re.findall(r'data-payout="(RP\d{20})" data-payout-state="(\w+)"', html))
    assert states == {
        requested.out_bill_no: "requested",
        moving.out_bill_no: "in_flight",
        paid.out_bill_no: "succeeded",
        failed.out_bill_no: "failed",
    }
    for label in ("Requested", "In progress", "Paid to WeChat", "Failed"):
        assert label in html
    assert "Your WeChat account is frozen. The money is back in your wallet." in html
    assert cash(shopper) == D("6.50")  # 12.50 − 1 − 2 − 3 (the failed 4.00 came back)
    call_command("audit")


def test_merchant_staff_wallet_has_no_withdraw_form(client, wechat_ready):
    staff = UserFactory()
    MerchantStaff.objects.create(merchant=MerchantFactory(), user=staff, role=MerchantStaff.Role.ADMIN)
    client.force_login(staff)
    assert 'action="/wallet/withdraw/"' not in client.get("/wallet/").content.decode()
    client.post("/wallet/withdraw/", {"token": str(uuid.uuid4()), "amount": "1.00"})
    assert not Payout.objects.exists()


def test_withdraw_errors_are_in_chinese_for_a_chinese_shopper(shopper_client, cash_12_50):
    response = withdraw(shopper_client, "99.00", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "超过了您可提现的现金 ¥12.50。" in response.content.decode()
