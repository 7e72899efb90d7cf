"""Every shopper page on narrow phones, filled with the content that tends to push a layout sideways: long product
and campaign names, an order paid with a packet and points, a wallet with withdrawals in every state, error messages
next to fields. At 320, 360 and 390 px no page may scroll sideways (the tab bar included), in Chinese and English;
the tab bar sits at the bottom of the screen with every tab on it.
No Celery worker: nothing here waits for rebates."""

import os
import re
import uuid
from decimal import Decimal

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs a loop in this thread (see conftest)

import pytest

from campaigns.models import Campaign
from packets.models import Product
from packets.services import LineInput, order_create, packet_grant
from rebates.ledger import ledger_account, platform_account, transfer
from rebates.models import AccountKind
from rebates.payouts import services as payouts
from rebates.payouts import wechat
from rebates.services import rebates_credit_for_redemption
from tests.e2e.conftest import needs_chromium
from tests.factories.accounts import MerchantFactory, UserFactory
from tests.factories.campaigns import two_way_campaign

pytestmark = [needs_chromium, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "s3cret-pass!"  # tests.factories.accounts.UserFactory's
WIDTHS = (320, 360, 390)
LONG_NAME = "Organic Hainan Guifei mango gift box, extra large (2.5 kg), hand-picked 海南贵妃芒礼盒装特大果"


@pytest.fixture
def shopper(settings, monkeypatch):
    """A shopper with cash, points, packets, a paid order and withdrawals in every state, at a shop with long names."""
    for name, value in {
        "WECHATPAY_MCHID": "1900000001",
        "WECHATPAY_APPID": "wx0000000000000001",
        "WECHATPAY_PRIVATE_KEY_PATH": "/nonexistent/merchant.pem",
        "WECHATPAY_CERT_SERIAL_NO": "SERIAL",
        "WECHATPAY_APIV3_KEY": "k" * 32,
        "WECHATPAY_PUBLIC_KEY_PATH": "/nonexistent/platform.pem",
        "WECHATPAY_PUBLIC_KEY_ID": "PUB_KEY_ID_TEST",
        "WECHATPAY_GATEWAY": "http://127.0.0.1:9",
        "WECHATPAY_TEST_OPENID": "o-narrow-openid-0000000000",
    }.items():
        setattr(settings, name, value)
    monkeypatch.setattr(payouts, "payout_enqueue", lambda pk, countdown=0: True)

    user = UserFactory()
    merchant = MerchantFactory(name="鲜果坊 Fresh Fruit Workshop (Shenzhen Nanshan flagship store)", is_verified=True)
    campaign = two_way_campaign(merchant=merchant)
    Campaign.objects.filter(pk=campaign.pk).update(name=f"Spring festival double rebate {LONG_NAME}"[:100])
    points = two_way_campaign(holder_form="points", points_per_cny=100)
    Product.objects.create(
        merchant=merchant, sku="NARROW-1", name=LONG_NAME, category="fruit", price=Decimal("59.90"), emoji="🥭"
    )

    def order(campaign, gross: str, *, points_used: int = 0):
        packet = packet_grant(rule=campaign.earn_rules.get(), holder=user)
        placed = order_create(
            merchant=campaign.merchant,
            shopper=user,
            order_no=f"WEB-{uuid.uuid4().hex.upper()}",
            lines=[LineInput("NARROW-1", LONG_NAME, "fruit", 1, Decimal(gross))],
            gross_amount=Decimal(gross),
            packet_code=packet.code,
            points=points_used,
        )
        rebates_credit_for_redemption(redemption_id=placed.redemption.pk)
        return placed

    order(points, "60.00")  # 300 points
    user.paid_order = order(campaign, "59.90", points_used=200)
    packet_grant(rule=campaign.earn_rules.get(), holder=user)  # one valid packet to list
    transfer(
        source=platform_account(AccountKind.PLATFORM_EXTERNAL),
        destination=ledger_account(kind=AccountKind.SHOPPER_CASH, user_id=user.pk),
        amount=Decimal("123456.78"),
        kind="deposit",
        idempotency_key=f"narrow-fund:{user.pk}",
        reference="test",
    )
    for amount, state, reason in (
        ("1.00", None, ""),
        ("2.00", "PROCESSING", ""),
        ("3.00", "SUCCESS", ""),
        ("4.00", "FAIL", "SOME_VERY_LONG_UNKNOWN_WECHAT_FAIL_REASON_CODE"),
    ):
        payout = payouts.payout_request(user=user, amount=Decimal(amount), channel="wechat_balance")
        if state:
            bill = wechat.Bill(payout.out_bill_no, state, "TB1", int(Decimal(amount) * 100), fail_reason=reason)
            payouts.payout_record_bill(payout_id=payout.pk, bill=bill)
    return user


# The elements that reach past the screen's right edge, innermost last: what to fix when a page scrolls sideways.
TOO_WIDE = """() => Array.from(document.querySelectorAll("body *"))
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
    .slice(-4).map(e => e.tagName.toLowerCase() + "." + e.className)"""


def fits(tab, name: str) -> None:
    for width in WIDTHS:
        tab.page.set_viewport_size({"width": width, "height": 800})
        overflow = tab.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (
            f"{name} ({tab.language}) scrolls sideways by {overflow}px at {width}px: {tab.page.evaluate(TOO_WIDE)}"
        )
    tab.page.set_viewport_size({"width": 390, "height": 844})


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_no_shopper_page_scrolls_sideways_on_a_narrow_phone(open_tab, shopper, language):
    tab = open_tab(language, "narrow")
    page = tab.page
    tab.go("/accounts/login/")
    page.fill("#id_username", shopper.username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.locator("form.form button[type=submit]").click()

    # The tab bar: seven tabs along the bottom of the phone's screen, each fully on screen, the current one marked.
    tab.go("/wallet/")
    bar = page.locator("nav.mainnav").bounding_box()
    assert bar["y"] + bar["height"] == pytest.approx(844, abs=1)
    for link in page.locator("nav.mainnav a").all():
        box = link.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["height"] >= 44  # a thumb-sized target
    assert page.locator('nav.mainnav a[aria-current="page"]').get_attribute("href") == "/wallet/"

    order = shopper.paid_order
    for path in ("/", "/packets/", "/checkin/", "/share/", "/claim/", "/accounts/profile/", "/store/"):
        tab.go(path)
        fits(tab, path)
    tab.go(f"/orders/{order.pk}/")
    assert page.locator("[data-points-discount]").inner_text() == "−¥2.00"
    fits(tab, "order page")
    tab.go(f"/orders/{order.pk}/trace/")
    fits(tab, "order trace")

    tab.go("/store/")
    with page.expect_navigation():
        page.locator('form.addcart button[type="submit"]').first.click()
    tab.go("/store/cart/")
    fits(tab, "cart")
    tab.go("/store/checkout/")
    fits(tab, "checkout")
    page.fill("#id_points", "999999")
    with page.expect_navigation():
        page.locator('form[data-checkout] button[type="submit"]').click()
    assert page.locator("#points_error").count() == 1
    fits(tab, "checkout with a points error")

    tab.go("/wallet/")
    assert page.locator("[data-payout-state]").count() == 4
    fits(tab, "wallet")
    page.fill("#id_amount", "99999999.99")
    with page.expect_navigation():
        page.locator("form[data-withdraw] button[type=submit]").click()
    assert re.search(r"¥123,\d{3}\.\d{2}", page.inner_text("#amount_error"))
    fits(tab, "wallet with an amount error")
    tab.shoot("wallet-amount-error")
