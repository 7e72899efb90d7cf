"""The shopper's journey in a real browser, in Chinese and in English, against the live server and the real Celery
worker: sign up through a friend's share link → check in → buy ≥ 200 in the demo store → receive a packet → spend
it → watch the order page flip to both rebates credited (its JavaScript polls the status) → withdraw the cash rebate
to WeChat (a local fake WeChat Pay) and see it paid. Every page is saved as a screenshot at 390 px and 1280 px in
test-artifacts/screenshots/, no page may scroll sideways at either width, and no request may leave the site."""

import os
import re
import time
from decimal import Decimal

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs a loop in this thread (see conftest)

import pytest

from accounts.models import User
from antifraud.models import RiskPolicy
from packets import batch as batches
from packets.models import CheckIn, Order, Packet, Product
from packets.store import demo_products_load
from rebates.models import Rebate
from rebates.payouts import services as payouts
from rebates.payouts.models import Payout
from tests.e2e.conftest import needs_chromium
from tests.e2e.seed import event_campaign
from tests.factories.accounts import MerchantFactory, UserFactory
from tests.factories.campaigns import two_way_campaign
from tests.rebates.fake_wechat import FakeWechatPay, Keys

pytestmark = [
    needs_chromium,
    pytest.mark.e2e,
    pytest.mark.celery_worker,
    pytest.mark.django_db(transaction=True),
]

TEXT = {
    "zh-hans": {
        "signup": "注册",
        "invited": "邀请您加入",
        "received": "您获得了 2 个红包。",
        "checked": "签到成功：已连续签到 1 天。",
        "earned": "您获得了 1 个红包",
        "credited": "已到账",
        "yours": "您的返利",
        "merchant": "商家的返利",
        "trace": "订单追踪",
        "withdrawn": "已申请提现 ¥3.00 到微信零钱",
        "paid": "已到账",
    },
    "en": {
        "signup": "Sign up",
        "invited": "invited you",
        "received": "You received 2 red packets.",
        "checked": "Checked in: day 1 in a row.",
        "earned": "You earned 1 red packet",
        "credited": "Credited",
        "yours": "Your rebate",
        "merchant": "The merchant's rebate",
        "trace": "Order trace",
        "withdrawn": "Withdrawal of ¥3.00 to your WeChat balance requested",
        "paid": "Paid to WeChat",
    },
}


@pytest.fixture
def shop():
    """The seed's merchant with its demo products, the two-way campaign (spend ≥ 200 → 10.00 packet, usable from
    50.00; spending it pays the merchant 10 % and the shopper 5 %) and a campaign rewarding sign-up, check-in,
    sharing and referral; a friend who shares their link; and a batch of codes to claim."""
    merchant = MerchantFactory(name="鲜果坊", is_verified=True)
    demo_products_load(merchant)
    two_way = two_way_campaign(merchant=merchant, budget="2000.00")
    events = event_campaign(merchant=merchant)
    for campaign in (two_way, events):
        # One browser makes every request from one IP and device: the default ten minutes between two packets from
        # one IP (antifraud) would refuse the journey's next packet; the daily limits still apply.
        RiskPolicy.objects.create(campaign=campaign, min_interval_minutes=0)
    batch = batches.packets_generate(campaign=two_way, count=1)
    return {
        "merchant": merchant,
        "two_way": two_way,
        "events": events,
        "friend": UserFactory(phone="13800138000"),
        "code": Packet.objects.get(batch=batch).code,
        "products": {p.sku: p for p in Product.objects.filter(merchant=merchant)},
    }


@pytest.fixture
def wechat_pay(settings, tmp_path, monkeypatch):
    """A local fake WeChat Pay the live server talks to. Payouts are not published to the worker (its process has no
    WeChat settings): the test takes the payout's step itself, so what the page shows never races the worker."""
    keys = Keys()
    server = FakeWechatPay(keys).start()
    for name, value in keys.write(tmp_path / "wechat").items():
        setattr(settings, name, value)
    settings.WECHATPAY_GATEWAY = server.url
    settings.WECHATPAY_TEST_OPENID = "o-e2e-openid-00000000000000"
    monkeypatch.setattr(payouts, "payout_enqueue", lambda pk, countdown=0: True)
    yield server
    server.stop()


def add_to_cart(tab, product: Product, quantity: int = 1) -> None:
    form = tab.page.locator(f'form.addcart:has(input[name="product"][value="{product.pk}"])')
    if quantity != 1:
        form.locator('input[name="quantity"]').fill(str(quantity))
    with tab.page.expect_navigation():
        form.locator('button[type="submit"]').click()


def checkout(tab, *, packet_code: str | None) -> Order:
    tab.go("/store/cart/")
    with tab.page.expect_navigation():
        tab.page.locator('a[href="/store/checkout/"]').click()
    tab.shoot("checkout" if packet_code is None else "checkout-with-packet")
    if packet_code is None:
        tab.page.locator('label[for="packet_none"]').click()
    else:
        tab.page.locator(f'input[name="packet"][value="{packet_code}"]').check()
    with tab.page.expect_navigation():
        tab.page.locator('form[data-checkout] button[type="submit"]').click()
    match = re.search(r"/orders/(\d+)/$", tab.page.url)
    assert match, tab.page.url
    return Order.objects.get(pk=int(match.group(1)))


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_shopper_journey_from_share_link_to_both_rebates_credited_and_withdrawn(
    open_tab, shop, celery_worker, wechat_pay, language
):
    started = time.monotonic()
    text = TEXT[language]
    tab = open_tab(language, "journey")
    page = tab.page
    phone = "13912345678" if language == "en" else "13987654321"

    tab.go("/")
    tab.shoot("home-visitor")

    # 1. Sign up through the friend's share link.
    tab.go(f"/accounts/signup/?share={shop['friend'].invite_code}&ch=link")
    assert page.locator("h1").inner_text() == text["signup"]
    assert text["invited"] in page.locator(".invite-banner").inner_text()
    assert "138****8000" in page.content()
    tab.shoot("signup")
    page.fill("#id_account", "12345")
    page.fill("#id_password1", "12345678")
    page.fill("#id_password2", "12345678")
    with page.expect_navigation():
        page.locator("form.form button[type=submit]").click()
    assert page.locator(".field--error").count() == 2  # the phone format and the weak password, next to each field
    tab.shoot("signup-errors")
    page.fill("#id_account", phone)
    page.fill("#id_password1", "hongbao-2024!")
    page.fill("#id_password2", "hongbao-2024!")
    with page.expect_navigation():
        page.locator("form.form button[type=submit]").click()
    assert page.url.endswith("/accounts/welcome/")
    assert text["received"] in page.inner_text("main")
    tab.shoot("welcome")
    user = User.objects.get(phone=phone)
    assert user.invited_by == shop["friend"]
    assert Packet.objects.filter(holder=shop["friend"], channel="share").count() == 1

    tab.go("/accounts/profile/")
    page.select_option("#id_province", "广东")
    page.fill("#id_city", "深圳市")
    with page.expect_navigation():
        page.locator("form.form button[type=submit]").click()
    tab.shoot("profile")
    user.refresh_from_db()
    assert (user.province, user.city) == ("广东", "深圳")

    # 2. Check in (a double tap is one check-in).
    tab.go("/checkin/")
    tab.shoot("checkin")
    with page.expect_navigation():
        page.locator('form[action="/checkin/"] button').dblclick()
    assert text["checked"] in page.inner_text(".messages")
    assert page.locator("[data-checked-in]").get_attribute("data-checked-in") == "yes"
    tab.shoot("checkin-done")
    assert CheckIn.objects.filter(user=user).count() == 1

    # The share page and a claim by code, typed the way people type.
    tab.go("/share/")
    assert page.locator("svg.qr").count() == 1
    assert f"share={user.invite_code}" in page.input_value("#share-link")
    tab.shoot("share")
    tab.go("/claim/")
    tab.shoot("claim")
    page.fill("#id_code", shop["code"].replace("-", " ").lower())
    with page.expect_navigation():
        page.locator('form[action="/claim/"] button[type=submit]').click()
    assert page.locator("[data-claim-state]").get_attribute("data-claim-state") == "mine"
    tab.shoot("claim-done")

    tab.go("/")
    assert page.locator('[data-summary="cash"]').count() == 1
    tab.shoot("home")

    # 3. Buy ≥ 200 without a packet → receive the two-way campaign's packet.
    tab.go("/store/")
    tab.shoot("store")
    products = shop["products"]
    for sku in ("FR-CHERRY", "FR-MANGO", "FR-JUICE"):  # 129.00 + 59.90 + 18.50 = 207.40
        add_to_cart(tab, products[sku])
    tab.go("/store/cart/")
    tab.shoot("cart")
    first = checkout(tab, packet_code=None)
    assert first.gross_amount == Decimal("207.40") and first.packet_id is None
    assert text["earned"] in page.inner_text(".earned")
    tab.shoot("order-first")
    earned = first.earned_packets.get()
    assert (earned.campaign, earned.amount) == (shop["two_way"], Decimal("10.00"))

    # 4. Spend it on a second purchase; the order page flips to both rebates credited by itself.
    tab.go("/store/")
    add_to_cart(tab, products["FR-MANGO"])  # 59.90 ≥ the packet's 50.00 minimum
    second = checkout(tab, packet_code=earned.code)
    assert (second.packet_id, second.discount, second.amount_paid) == (earned.pk, Decimal("10.00"), Decimal("49.90"))
    page.wait_for_selector('[data-order-status][data-state="credited"]', timeout=60_000)
    rebates = page.inner_text(".rebate-list")
    assert text["yours"] in rebates and text["merchant"] in rebates
    assert "+¥3.00" in rebates and "+¥5.99" in rebates  # 5 % and 10 % of 59.90, half up
    assert rebates.count(text["credited"]) == 2
    tab.shoot("order-credited")
    assert sorted((r.role, str(r.amount)) for r in Rebate.objects.filter(redemption__order=second)) == [
        ("holder", "3.00"),
        ("issuer", "5.99"),
    ]

    tab.go(f"/orders/{second.pk}/trace/")
    assert page.locator("h1").inner_text().startswith(text["trace"])
    kinds = page.eval_on_selector_all("[data-step]", "els => els.map(e => e.dataset.step)")
    assert kinds == ["ordered", "packet_spent", "reserved", "credited", "credited"]
    tab.shoot("trace")

    # 5. Withdraw the cash rebate to WeChat: the form offers the whole balance; one tap, one payout, then paid.
    tab.go("/wallet/")
    assert page.input_value("#id_amount") == "3.00"
    tab.shoot("wallet")
    with page.expect_navigation():
        page.locator("form[data-withdraw] button[type=submit]").click()
    assert page.url.endswith("/wallet/#withdrawals")
    assert text["withdrawn"] in page.inner_text(".messages")
    payout = Payout.objects.get(beneficiary=user)
    assert (payout.amount, payout.status) == (Decimal("3.00"), Payout.Status.REQUESTED)
    row = page.locator(f'[data-payout="{payout.out_bill_no}"]')
    assert row.get_attribute("data-payout-state") == "requested"
    tab.shoot("wallet-withdrawn")
    assert payouts.payout_attempt(payout_id=payout.pk) is None  # the worker's step, against the fake WeChat Pay
    tab.go("/wallet/")
    assert row.get_attribute("data-payout-state") == "succeeded" and text["paid"] in row.inner_text()
    assert page.locator('[data-balance="cash"]').inner_text() == "¥0.00"
    tab.shoot("wallet-paid")
    tab.go("/packets/")
    tab.shoot("my-packets")
    tab.go(f"/campaigns/{shop['two_way'].pk}/rules/")
    tab.shoot("rules")

    assert tab.foreign_requests() == []
    assert len(tab.shots) >= 2 * 23
    print(f"\n{language} journey: {time.monotonic() - started:.1f} s, {len(tab.shots)} screenshots")
