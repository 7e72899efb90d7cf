"""Shopper pages: the demo store, cart, checkout with the packet picker, the order result page and "my packets"."""

import re
import threading
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connections
from django.test import Client
from django.utils import timezone, translation

from campaigns.models import Campaign
from packets import store
from packets.errors import RULE_NOT_MET_CODES, BudgetExhausted, InvalidOrder, OrderNumberTaken, PacketNotFound
from packets.models import CheckIn, Order, Packet, Product
from packets.services import LineInput, order_create, packet_grant
from rebates.models import OutboxEvent
from rebates.services import rebates_credit_for_redemption
from tests.conftest import wait_for
from tests.factories.accounts import MerchantFactory, UserFactory
from tests.factories.campaigns import two_way_campaign

D = Decimal
pytestmark = pytest.mark.django_db


def product(merchant, name="Mango", *, price="25.00", category="fruit", sku=None, **extra) -> Product:
    return Product.objects.create(
        merchant=merchant,
        sku=sku or f"SKU-{uuid.uuid4().hex[:8]}",
        name=name,
        category=category,
        price=D(price),
        **extra,
    )


def grant(campaign: Campaign, holder, **changes) -> Packet:
    packet = packet_grant(rule=campaign.earn_rules.get(), holder=holder)
    if changes:
        Packet.objects.filter(pk=packet.pk).update(**changes)
        packet.refresh_from_db()
    return packet


def add(client, item: Product, quantity: int = 1):
    return client.post("/store/cart/add/", {"product": item.pk, "quantity": quantity})


def open_checkout(client, **headers):
    response = client.get("/store/checkout/", **headers)
    assert response.status_code == 200, response.content.decode()[:500]
    return response, response.context["token"]


@pytest.fixture
def shop():
    """A verified merchant running the seed's campaign, with a fruit and a book on sale."""
    merchant = MerchantFactory(name="鲜果坊")
    campaign = two_way_campaign(merchant=merchant)
    return {
        "merchant": merchant,
        "campaign": campaign,
        "mango": product(merchant, "Mango", price="25.00", category="fruit", emoji="🥭"),
        "book": product(merchant, "Poetry book", price="30.00", category="books", emoji="📚"),
    }


@pytest.fixture
def shopper():
    return UserFactory()


@pytest.fixture
def shopper_client(client, shopper):
    client.force_login(shopper)
    return client


# --- store and cart ------------------------------------------------------------------------------------------------


def test_store_lists_products_of_verified_merchants_with_category_tags(client, shop):
    unverified = MerchantFactory(is_verified=False)
    product(unverified, "Unverified durian")
    product(shop["merchant"], "Withdrawn apple", active=False)

    html = client.get("/store/").content.decode()

    assert "Mango" in html and "Poetry book" in html
    assert "¥25.00" in html and "鲜果坊" in html
    assert ">Fruit<" in html and ">Books<" in html  # category tags, in the shopper's language
    assert "Unverified durian" not in html
    assert "Withdrawn apple" not in html


def test_store_filters_by_category(client, shop):
    html = client.get("/store/?category=books").content.decode()
    assert "Poetry book" in html
    assert "Mango" not in html


def test_add_to_cart_form_has_csrf_and_a_label_for_quantity(client, shop):
    html = client.get("/store/").content.decode()
    assert "csrfmiddlewaretoken" in html
    assert f'<label for="id_quantity_{shop["mango"].pk}">Quantity</label>' in html


def test_cart_shows_lines_and_total(client, shop):
    add(client, shop["mango"], 2)
    add(client, shop["book"])

    response = client.get("/store/cart/")

    html = response.content.decode()
    assert "Mango" in html and "¥50.00" in html  # 2 × 25.00
    assert "¥80.00" in html  # 50.00 + 30.00
    assert "/store/checkout/" in html


def test_adding_the_same_product_twice_adds_up_the_quantity(client, shop):
    add(client, shop["mango"], 2)
    add(client, shop["mango"], 3)
    assert client.session[store.CART_SESSION_KEY] == {str(shop["mango"].pk): 5}


def test_invalid_quantity_is_shown_next_to_the_field_and_nothing_is_added(client, shop):
    response = add(client, shop["mango"], 0)
    assert response.status_code == 400
    html = response.content.decode()
    assert "Ensure this value is greater than or equal to 1." in html
    assert 'class="field field--inline field--error"' in html
    assert store.CART_SESSION_KEY not in client.session


def test_cart_update_to_zero_removes_the_line(client, shop):
    add(client, shop["mango"])
    client.post("/store/cart/update/", {"product": shop["mango"].pk, "quantity": 0})
    assert "Your cart is empty." in client.get("/store/cart/").content.decode()


def test_a_product_withdrawn_from_sale_leaves_the_cart(client, shop):
    add(client, shop["mango"])
    Product.objects.filter(pk=shop["mango"].pk).update(active=False)
    html = client.get("/store/cart/").content.decode()
    assert "no longer on sale" in html
    assert "Your cart is empty." in html


def test_the_cart_survives_logging_in(client, shop):
    shopper = UserFactory()
    add(client, shop["mango"], 2)
    client.post("/accounts/login/", {"username": shopper.username, "password": "s3cret-pass!"})
    assert client.session["_auth_user_id"] == str(shopper.pk)
    assert client.session[store.CART_SESSION_KEY] == {str(shop["mango"].pk): 2}


def test_demo_products_load_once():
    merchant = MerchantFactory(name="鲜果坊")
    assert store.demo_products_load(merchant) == 5
    assert store.demo_products_load(merchant) == 0
    assert Product.objects.filter(merchant=merchant, active=True).count() == 5


# --- checkout ------------------------------------------------------------------------------------------------------


def test_checkout_requires_login(client, shop):
    add(client, shop["mango"])
    response = client.get("/store/checkout/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/?next=/store/checkout/")


def test_checkout_with_a_valid_packet_creates_one_order_with_the_discount(shopper_client, shopper, shop):
    packet = grant(shop["campaign"], shopper)
    add(shopper_client, shop["mango"], 2)  # 50.00 ≥ the packet's minimum spend of 50.00
    _, token = open_checkout(shopper_client)

    response = shopper_client.post("/store/checkout/", {"token": token, "packet": packet.code})

    order = Order.objects.get(shopper=shopper)
    assert response.status_code == 302 and response.url == f"/orders/{order.pk}/"
    assert (order.gross_amount, order.discount, order.amount_paid) == (D("50.00"), D("10.00"), D("40.00"))
    assert order.packet_id == packet.pk and order.channel == Order.Channel.STORE
    assert order.order_no == store.order_no_for(uuid.UUID(token))
    assert order.ip == "127.0.0.1"
    assert [(li.name, li.quantity, li.unit_price) for li in order.lines.all()] == [("Mango", 2, D("25.00"))]
    packet.refresh_from_db()
    assert packet.status == Packet.Status.USED
    assert store.CART_SESSION_KEY not in shopper_client.session


def test_checkout_without_a_packet_creates_an_order_at_full_price(shopper_client, shopper, shop):
    add(shopper_client, shop["book"])
    _, token = open_checkout(shopper_client)
    shopper_client.post("/store/checkout/", {"token": token, "packet": ""})
    order = Order.objects.get(shopper=shopper)
    assert (order.discount, order.amount_paid, order.packet_id) == (D("0.00"), D("30.00"), None)


def test_the_picker_preselects_the_usable_packet_and_previews_the_amount_to_pay(shopper_client, shopper, shop):
    packet = grant(shop["campaign"], shopper)
    add(shopper_client, shop["mango"], 2)
    response, _ = open_checkout(shopper_client)
    html = response.content.decode()
    radio = re.search(rf'<input type="radio" name="packet" id="packet_{packet.pk}"[^>]*>', html, re.S).group(0)
    assert "checked" in radio and "disabled" not in radio
    assert "Save ¥10.00" in html
    assert "¥40.00" in html  # to pay


def test_the_picker_disables_a_packet_below_its_minimum_spend_with_the_reason(shopper_client, shopper, shop):
    packet = grant(shop["campaign"], shopper)  # minimum spend 50.00
    add(shopper_client, shop["mango"])  # 25.00

    response, _ = open_checkout(shopper_client)

    html = response.content.decode()
    radio = re.search(rf'<input type="radio" name="packet" id="packet_{packet.pk}"[^>]*>', html, re.S).group(0)
    assert "disabled" in radio
    assert f'aria-describedby="packet_{packet.pk}_reason"' in radio
    assert "Needs ¥50.00 on eligible items; your cart has ¥25.00." in html
    assert re.search(r'id="packet_none"[^>]*checked', html)


def test_the_picker_disables_a_packet_for_other_categories_with_the_reason(shopper_client, shopper, shop):
    grant(shop["campaign"], shopper, categories=["fruit"], min_spend=D("0.00"))
    add(shopper_client, shop["book"])
    html = open_checkout(shopper_client)[0].content.decode()
    assert "Only for Fruit; nothing in your cart qualifies." in html


def test_the_picker_disables_a_packet_whose_excluded_categories_cover_the_cart(shopper_client, shopper, shop):
    grant(shop["campaign"], shopper, denied_categories=["books"], min_spend=D("0.00"))
    add(shopper_client, shop["book"])
    html = open_checkout(shopper_client)[0].content.decode()
    assert "Not valid on Books, and your cart has nothing else." in html
    assert "Storewide, except Books" in html


def test_the_picker_accepts_the_same_packet_when_the_cart_has_other_items(shopper_client, shopper, shop):
    packet = grant(shop["campaign"], shopper, denied_categories=["books"], min_spend=D("0.00"))
    add(shopper_client, shop["book"])
    add(shopper_client, shop["mango"])
    _, token = open_checkout(shopper_client)
    shopper_client.post("/store/checkout/", {"token": token, "packet": packet.code})
    assert Order.objects.get(shopper=shopper).discount == D("10.00")


def test_the_picker_shows_an_expired_packet_disabled(shopper_client, shopper, shop):
    grant(shop["campaign"], shopper, expires_at=timezone.now() - timedelta(hours=1))
    add(shopper_client, shop["mango"], 2)
    html = open_checkout(shopper_client)[0].content.decode()
    assert "Expired on" in html
    assert "0 of your packets can be used on this order." in html


def test_the_picker_reason_is_in_chinese_for_a_chinese_shopper(shopper_client, shopper, shop):
    grant(shop["campaign"], shopper)
    add(shopper_client, shop["mango"])
    html = open_checkout(shopper_client, HTTP_ACCEPT_LANGUAGE="zh-hans")[0].content.decode()
    assert "可用商品需满 ¥50.00，当前购物车为 ¥25.00。" in html
    assert "不使用红包" in html


def test_double_submitting_the_same_checkout_token_yields_one_order(shopper_client, shopper, shop):
    packet = grant(shop["campaign"], shopper)
    add(shopper_client, shop["mango"], 2)
    _, token = open_checkout(shopper_client)
    form = {"token": token, "packet": packet.code}

    first = shopper_client.post("/store/checkout/", form)
    second = shopper_client.post("/store/checkout/", form)  # the back button, or a second tap

    order = Order.objects.get(shopper=shopper)
    assert first.url == second.url == f"/orders/{order.pk}/"
    assert "already placed" in shopper_client.get(second.url).content.decode()


def test_a_repeated_order_number_is_refused_by_the_service(shopper, shop):
    # The page relies on this: the number derived from the token can only be used once per merchant.
    lines = [LineInput("S", "Mango", "fruit", 1, D("25.00"))]
    order_create(merchant=shop["merchant"], shopper=shopper, order_no="WEB-X", lines=lines, gross_amount=D("25.00"))
    with pytest.raises(OrderNumberTaken):
        order_create(merchant=shop["merchant"], shopper=shopper, order_no="WEB-X", lines=lines, gross_amount=D("25.00"))


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_submits_of_one_checkout_make_one_order(shop):
    shopper = UserFactory()
    packet = grant(shop["campaign"], shopper)
    browser = Client()
    browser.force_login(shopper)
    add(browser, shop["mango"], 2)
    _, token = open_checkout(browser)
    cookies = browser.cookies
    barrier, replies = threading.Barrier(2), []

    def submit():
        tab = Client()
        tab.cookies = cookies
        barrier.wait()
        try:
            replies.append(tab.post("/store/checkout/", {"token": token, "packet": packet.code}))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    order = Order.objects.get(shopper=shopper)
    assert [r.status_code for r in replies] == [302, 302]
    assert {r.url for r in replies} == {f"/orders/{order.pk}/"}


def test_a_foreign_packet_code_is_refused_with_a_message_and_no_order(shopper_client, shopper, shop):
    someone_else = UserFactory()
    foreign = grant(shop["campaign"], someone_else)
    add(shopper_client, shop["mango"], 2)
    _, token = open_checkout(shopper_client)

    response = shopper_client.post("/store/checkout/", {"token": token, "packet": foreign.code})

    assert response.status_code == 400
    html = response.content.decode()
    assert "We could not find that red packet in your account." in html
    assert 'id="packet_error"' in html  # next to the packet picker
    assert not Order.objects.exists()
    foreign.refresh_from_db()
    assert foreign.status == Packet.Status.ISSUED


def test_an_ineligible_packet_forced_through_the_form_is_refused_with_its_reason(shopper_client, shopper, shop):
    packet = grant(shop["campaign"], shopper)
    add(shopper_client, shop["mango"])  # 25.00 < minimum spend 50.00
    _, token = open_checkout(shopper_client)
    response = shopper_client.post("/store/checkout/", {"token": token, "packet": packet.code})
    assert response.status_code == 400
    assert "Your cart does not reach this red packet&#x27;s minimum spend." in response.content.decode()
    assert not Order.objects.exists()


def test_a_used_packet_is_refused_with_the_packet_used_message(shopper_client, shopper, shop):
    packet = grant(shop["campaign"], shopper)
    add(shopper_client, shop["mango"], 2)
    _, token = open_checkout(shopper_client)
    Packet.objects.filter(pk=packet.pk).update(status=Packet.Status.USED)  # spent elsewhere meanwhile
    response = shopper_client.post("/store/checkout/", {"token": token, "packet": packet.code})
    assert "This red packet has already been used." in response.content.decode()
    assert not Order.objects.exists()


def test_an_exhausted_budget_is_explained_next_to_the_picker(shopper_client, shopper):
    merchant = MerchantFactory()
    campaign = two_way_campaign(merchant=merchant, budget="10.00")  # all of it goes into the packet itself
    packet = grant(campaign, shopper)
    add(shopper_client, product(merchant, price="50.00"))
    _, token = open_checkout(shopper_client)
    response = shopper_client.post("/store/checkout/", {"token": token, "packet": packet.code})
    assert "The campaign&#x27;s budget is used up for now" in response.content.decode()
    assert not Order.objects.exists()


def test_the_picker_does_not_offer_a_packet_of_another_shops_campaign(shopper_client, shopper, shop):
    foreign = grant(shop["campaign"], shopper)
    other = MerchantFactory(name="书香阁")
    add(shopper_client, product(other, "Novel", price="60.00", category="books"))

    response, _ = open_checkout(shopper_client)

    html = response.content.decode()
    assert foreign.code not in html and f"packet_{foreign.pk}" not in html
    assert response.context["options"] == []


def test_a_packet_of_another_shops_campaign_is_refused_at_checkout_and_nothing_is_written(
    shopper_client, shopper, shop
):
    from rebates.models import Entry

    foreign = grant(shop["campaign"], shopper)
    add(shopper_client, product(MerchantFactory(name="书香阁"), "Novel", price="60.00", category="books"))
    _, token = open_checkout(shopper_client)
    entries = Entry.objects.count()

    response = shopper_client.post(
        "/store/checkout/", {"token": token, "packet": foreign.code}, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )

    assert response.status_code == 400
    assert response.context["packet_error"] == "这个红包只能在发放它的活动所属店铺使用。"
    assert not Order.objects.exists() and Entry.objects.count() == entries
    foreign.refresh_from_db()
    assert foreign.status == Packet.Status.ISSUED


def test_a_token_this_session_never_issued_is_refused_and_nothing_is_written(shopper_client, shop):
    add(shopper_client, shop["mango"])
    response = shopper_client.post("/store/checkout/", {"token": str(uuid.uuid4()), "packet": ""})
    assert response.status_code == 409
    assert "This checkout page has expired." in response.content.decode()
    assert not Order.objects.exists()


def test_a_cart_changed_after_the_page_opened_must_be_reviewed_again(shopper_client, shop):
    add(shopper_client, shop["mango"])
    _, token = open_checkout(shopper_client)
    add(shopper_client, shop["book"])
    response = shopper_client.post("/store/checkout/", {"token": token, "packet": ""})
    assert response.status_code == 409
    assert "Your cart changed after this page was opened." in response.content.decode()
    assert not Order.objects.exists()


def test_a_cart_from_two_shops_cannot_be_checked_out_and_the_page_says_why(shopper_client, shop):
    add(shopper_client, shop["mango"])
    add(shopper_client, product(MerchantFactory(name="书香阁"), "Novel", category="books"))

    html = shopper_client.get("/store/checkout/").content.decode()

    assert "One order, one shop." in html
    assert "Your cart has items from 2 shops." in html
    assert 'action="/store/checkout/"' not in html  # no form to submit
    assert "Your cart has items from 2 shops." in shopper_client.get("/store/cart/").content.decode()


@pytest.mark.parametrize(
    "code",
    sorted(store.ERROR_MESSAGES),
)
def test_every_order_error_code_has_a_chinese_message(code):
    with translation.override("zh-hans"):
        chinese = store.error_message(code)
    with translation.override("en"):
        english = store.error_message(code)
    assert chinese != english
    assert re.search(r"[\u4e00-\u9fff]", chinese)


def test_the_error_codes_of_the_order_path_all_have_messages():
    codes = {PacketNotFound.code, BudgetExhausted.code, OrderNumberTaken.code, "campaign_not_active"}
    codes |= {f"packet_{s}" for s in ("used", "expired", "revoked")}
    codes |= RULE_NOT_MET_CODES
    codes |= {"order_no_lines", "invalid_quantity", "invalid_price", "gross_amount_mismatch", "invalid_amount"}
    codes |= {"amount_too_large"}
    assert codes <= set(store.ERROR_MESSAGES)
    assert InvalidOrder.code not in codes  # always raised with a specific code


def test_an_unknown_error_code_gets_a_generic_message_with_the_code():
    assert store.error_message("rate_limited") == "We could not place your order (rate_limited). Please try again."


# --- the order page ------------------------------------------------------------------------------------------------


def _order(shop, shopper, gross="200.00", packet=None) -> Order:
    lines = [LineInput("SKU-M", "Mango", "fruit", int(D(gross) / D("25.00")), D("25.00"))]
    return order_create(
        merchant=shop["merchant"],
        shopper=shopper,
        order_no=f"T-{uuid.uuid4().hex[:8]}",
        lines=lines,
        gross_amount=D(gross),
        packet_code=packet.code if packet else None,
    )


def test_order_page_shows_lines_discount_paid_and_the_earned_packet(shopper_client, shopper, shop):
    order = _order(shop, shopper, "200.00")  # ≥ 200 earns a 10.00 packet

    html = shopper_client.get(f"/orders/{order.pk}/").content.decode()

    assert order.order_no in html
    assert "Mango" in html and "× 8" in html
    assert "¥200.00" in html
    assert "You earned 1 red packet" in html
    assert "¥10.00" in html and "Min. spend ¥50.00" in html and "Storewide" in html
    assert "29 days" in html  # the countdown
    assert "No red packet was used on this order" in html


def test_order_page_counts_the_packets_earned_in_each_language(shopper_client, shopper, shop):
    two_way_campaign(merchant=shop["merchant"])  # a second campaign of the shop: one order earns two packets
    order = _order(shop, shopper, "200.00")

    chinese = shopper_client.get(f"/orders/{order.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    english = shopper_client.get(f"/orders/{order.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "您获得了 2 个红包" in chinese
    assert "You earned 2 red packets" in english


def test_order_page_says_which_packet_was_not_issued_and_why_in_the_shoppers_language(shopper_client, shopper, shop):
    Campaign.objects.filter(pk=shop["campaign"].pk).update(per_user_limit=1, name="春季满减")
    _order(shop, shopper, "200.00")
    order = _order(shop, shopper, "200.00")  # the second packet passes the campaign's per-user limit

    html = shopper_client.get(f"/orders/{order.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    english = shopper_client.get(f"/orders/{order.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "本单未获得的红包" in html
    assert "春季满减" in html and "您领取该活动的红包已达上限。" in html and "¥10.00" in html
    assert "You already received as many red packets of this campaign as it allows." in english
    assert "You earned" not in english


def test_order_page_says_nothing_of_packets_not_issued_when_all_were(shopper_client, shopper, shop):
    order = _order(shop, shopper, "200.00")
    html = shopper_client.get(f"/orders/{order.pk}/").content.decode()
    assert "Red packets this order did not get" not in html


def test_order_page_says_rebates_are_being_computed_and_polls(shopper_client, shopper, shop):
    packet = grant(shop["campaign"], shopper)
    order = _order(shop, shopper, "50.00", packet)  # no worker runs in this test: the rebate stays pending

    html = shopper_client.get(f"/orders/{order.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert "返利计算中…" in html
    assert f'data-url="/orders/{order.pk}/status.json"' in html
    assert "js/order_status.js" in html
    assert "−¥10.00" in html and "¥40.00" in html


def test_order_page_names_each_rebate_by_who_receives_it(shopper, shop):
    from packets.store import rebate_label
    from rebates.models import Rebate

    order = Order(shopper=shopper)
    mine = Rebate(role=Rebate.Role.HOLDER, beneficiary_user=shopper)
    merchant = Rebate(role=Rebate.Role.ISSUER, beneficiary_merchant=shop["merchant"])
    sender = Rebate(role=Rebate.Role.ISSUER, beneficiary_user=UserFactory())
    labels = [rebate_label(r, order) for r in (mine, merchant, sender)]
    assert labels == ["Your rebate", "The merchant's rebate", "The sender's rebate"]


def test_order_page_is_404_for_another_shopper(client, shopper, shop):
    order = _order(shop, shopper)
    client.force_login(UserFactory())
    assert client.get(f"/orders/{order.pk}/").status_code == 404


def test_order_page_is_404_for_the_merchant_staff_too(client, shopper, shop):
    from accounts.models import MerchantStaff

    order = _order(shop, shopper)
    staff = UserFactory()
    MerchantStaff.objects.create(merchant=shop["merchant"], user=staff, role=MerchantStaff.Role.ADMIN)
    client.force_login(staff)
    assert client.get(f"/orders/{order.pk}/").status_code == 404


def test_status_json_is_404_for_another_shopper_and_for_anonymous(client, shopper, shop):
    order = _order(shop, shopper)
    assert client.get(f"/orders/{order.pk}/status.json").status_code == 404
    client.force_login(UserFactory())
    assert client.get(f"/orders/{order.pk}/status.json").status_code == 404


def test_status_json_reports_computing_before_the_worker_runs(shopper_client, shopper, shop):
    order = _order(shop, shopper, "50.00", grant(shop["campaign"], shopper))
    body = shopper_client.get(f"/orders/{order.pk}/status.json").json()
    assert body["state"] == "computing" and body["rebates"] == []
    assert "Calculating rebates…" in body["html"]


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_status_json_turns_credited_after_the_real_worker_runs(celery_worker, shop):
    shopper = UserFactory()
    browser = Client()
    browser.force_login(shopper)
    packet = grant(shop["campaign"], shopper)
    add(browser, shop["mango"], 2)
    _, token = open_checkout(browser, HTTP_ACCEPT_LANGUAGE="zh-hans")
    order_url = browser.post("/store/checkout/", {"token": token, "packet": packet.code}).url

    body = wait_for(lambda: (b := browser.get(f"{order_url}status.json").json())["state"] == "credited" and b)

    assert sorted((r["role"], r["display"]) for r in body["rebates"]) == [("holder", "¥2.50"), ("issuer", "¥5.00")]
    assert "Credited" in body["html"] and "+¥2.50" in body["html"]
    assert 'data-state="credited"' in body["html"]
    html = browser.get(order_url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "已到账" in html and "返利计算中" not in html
    assert OutboxEvent.objects.get().done_at is not None


# --- my packets ----------------------------------------------------------------------------------------------------


@pytest.fixture
def three_packets(shopper, shop):
    now = timezone.now()
    valid = grant(shop["campaign"], shopper, categories=["fruit"], expires_at=now + timedelta(days=3, hours=5))
    used = grant(shop["campaign"], shopper)
    _order(shop, shopper, "50.00", used)
    expired = grant(shop["campaign"], shopper, expires_at=now - timedelta(days=1))
    revoked = grant(shop["campaign"], shopper, status=Packet.Status.REVOKED)
    return {"valid": valid, "used": used, "expired": expired, "revoked": revoked}


def test_packets_page_valid_tab_shows_amount_terms_countdown_and_campaign(shopper_client, shop, three_packets):
    html = shopper_client.get("/packets/").content.decode()
    assert three_packets["valid"].code in html
    assert three_packets["used"].code not in html and three_packets["expired"].code not in html
    assert "¥10.00" in html and "Min. spend ¥50.00" in html and "Fruit" in html
    assert "3 days 5 hours left" in html or "3 days 4 hours left" in html
    assert shop["campaign"].name in html


def test_packets_page_used_tab_links_the_order(shopper_client, three_packets):
    html = shopper_client.get("/packets/?tab=used").content.decode()
    used = three_packets["used"]
    assert used.code in html and three_packets["valid"].code not in html
    assert f'href="/orders/{used.redemption.order_id}/"' in html


def test_packets_page_expired_tab_holds_expired_and_revoked(shopper_client, three_packets):
    html = shopper_client.get("/packets/?tab=expired").content.decode()
    assert three_packets["expired"].code in html and three_packets["revoked"].code in html
    assert three_packets["valid"].code not in html


def test_packets_page_tabs_show_counts(shopper_client, three_packets):
    response = shopper_client.get("/packets/")
    assert [(t["key"], t["count"]) for t in response.context["tabs"]] == [("valid", 1), ("used", 1), ("expired", 2)]


def test_packets_page_says_storewide_in_chinese_when_there_is_no_category(shopper_client, shopper, shop):
    grant(shop["campaign"], shopper)
    html = shopper_client.get("/packets/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "全场通用" in html and "满¥50.00可用" in html and "天" in html


def test_packets_page_shows_only_my_packets(shopper_client, shop):
    other = grant(shop["campaign"], UserFactory())
    assert other.code not in shopper_client.get("/packets/").content.decode()


def test_packets_page_requires_login(client):
    assert client.get("/packets/").status_code == 302


# --- both languages ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "expected", "absent"),
    [
        ("zh-hans", ["演示商城", "加入购物车", "数量"], "Add to cart"),
        ("en", ["Demo store", "Add to cart"], "加入购物车"),
    ],
)
def test_store_renders_in_each_language(client, shop, language, expected, absent):
    html = client.get("/store/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert f'<html lang="{language}">' in html
    for text in expected:
        assert text in html
    assert absent not in html


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("zh-hans", ["结算", "使用红包", "提交订单", "节省 ¥10.00"]),
        ("en", ["Checkout", "Use a red packet", "Place order"]),
    ],
)
def test_checkout_renders_in_each_language(shopper_client, shopper, shop, language, expected):
    grant(shop["campaign"], shopper)
    add(shopper_client, shop["mango"], 2)
    html = open_checkout(shopper_client, HTTP_ACCEPT_LANGUAGE=language)[0].content.decode()
    for text in expected:
        assert text in html


@pytest.mark.parametrize(
    ("language", "expected"), [("zh-hans", ["有效", "已使用", "已过期"]), ("en", ["Valid", "Used"])]
)
def test_packets_page_renders_in_each_language(shopper_client, language, expected):
    html = shopper_client.get("/packets/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    for text in expected:
        assert text in html


def test_order_page_renders_in_chinese(shopper_client, shopper, shop):
    order = _order(shop, shopper, "200.00")
    html = shopper_client.get(f"/orders/{order.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "您获得了 1 个红包" in html and "实付" in html and "商品" in html


# --- the check-in admin --------------------------------------------------------------------------------------------


@pytest.fixture
def check_ins():
    alice, bob = UserFactory(phone="13711110001"), UserFactory(phone="13722220002")
    today = timezone.localdate()
    return [
        CheckIn.objects.create(user=alice, day=today, streak=3),
        CheckIn.objects.create(user=bob, day=today - timedelta(days=1), streak=1),
    ]


def test_checkin_admin_lists_day_user_and_streak(admin_client, check_ins):
    response = admin_client.get("/admin/packets/checkin/")
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == check_ins  # newest day first
    html = response.content.decode()
    for column in ("column-day", "column-user", "column-streak"):
        assert column in html


def test_checkin_admin_searches_by_user_phone(admin_client, check_ins):
    response = admin_client.get("/admin/packets/checkin/", {"q": "13722220002"})
    assert list(response.context["cl"].result_list) == [check_ins[1]]


def test_checkin_admin_is_read_only(admin_client, check_ins):
    assert admin_client.get("/admin/packets/checkin/add/").status_code == 403
    change = admin_client.get(f"/admin/packets/checkin/{check_ins[0].pk}/change/")
    assert change.status_code == 200 and 'name="streak"' not in change.content.decode()
    admin_client.post(f"/admin/packets/checkin/{check_ins[0].pk}/delete/", {"post": "yes"})
    assert CheckIn.objects.count() == 2


# --- paying with points at checkout --------------------------------------------------------------------------------


@pytest.fixture
def points_250(shopper):
    """250 spendable points (¥2.50 at 100 points = ¥1), earned the real way: the holder's points rebate of a packet
    spent at another shop (5 % of 50.00)."""
    campaign = two_way_campaign(holder_form="points", points_per_cny=100)
    packet = packet_grant(rule=campaign.earn_rules.get(), holder=shopper)
    order = order_create(
        merchant=campaign.merchant,
        shopper=shopper,
        order_no=f"T-{uuid.uuid4().hex[:8]}",
        lines=[LineInput("SKU-P", "Pear", "fruit", 1, D("50.00"))],
        gross_amount=D("50.00"),
        packet_code=packet.code,
    )
    rebates_credit_for_redemption(redemption_id=order.redemption.pk)
    assert store.points_balance(shopper) == 250
    return 250


def checkout_with_points(client, points, packet: str = ""):
    _, token = open_checkout(client)
    return client.post("/store/checkout/", {"token": token, "packet": packet, "points": points})


def shop_orders(shop):
    return Order.objects.filter(merchant=shop["merchant"])


def test_checkout_shows_the_points_balance_what_it_is_worth_and_how_many_fit(shopper_client, shop, points_250):
    add(shopper_client, shop["mango"])
    html = open_checkout(shopper_client)[0].content.decode()
    assert '<label for="id_points">Points to use</label>' in html
    assert "You have 250 points, worth ¥2.50." in html
    assert "Up to 250 points (¥2.50) on this order." in html
    assert "100 points = ¥1.00" in html


def test_checkout_with_points_pays_part_of_the_order_and_spends_them(shopper_client, shopper, shop, points_250):
    add(shopper_client, shop["mango"])  # 25.00

    response = checkout_with_points(shopper_client, "200")

    order = shop_orders(shop).get()
    assert response.status_code == 302 and response.url == f"/orders/{order.pk}/"
    assert (order.points_used, order.points_discount, order.amount_paid) == (200, D("2.00"), D("23.00"))
    assert store.points_balance(shopper) == 50
    call_command("audit")


def test_points_and_a_red_packet_pay_one_order_together(shopper_client, shopper, shop, points_250):
    packet = grant(shop["campaign"], shopper)
    add(shopper_client, shop["mango"], 2)  # 50.00 − 10.00 packet − 2.50 points

    checkout_with_points(shopper_client, "250", packet=packet.code)

    order = shop_orders(shop).get()
    assert (order.discount, order.points_discount, order.amount_paid) == (D("10.00"), D("2.50"), D("37.50"))
    assert store.points_balance(shopper) == 0
    rebates_credit_for_redemption(redemption_id=order.redemption.pk)
    call_command("audit")


def test_more_points_than_owned_are_refused_next_to_the_field_and_nothing_is_written(
    shopper_client, shopper, shop, points_250
):
    add(shopper_client, shop["mango"])

    response = checkout_with_points(shopper_client, "251")

    assert response.status_code == 400
    html = response.content.decode()
    assert '<p class="field__error" id="points_error" role="alert">You have only 250 points.</p>' in html
    assert 'aria-invalid="true"' in html and 'value="251"' in html  # what was typed stays, to be corrected
    assert not shop_orders(shop).exists() and store.points_balance(shopper) == 250
    call_command("audit")


def test_points_worth_more_than_is_left_to_pay_are_refused_with_the_most_that_fits(
    shopper_client, shopper, shop, points_250
):
    add(shopper_client, product(shop["merchant"], "Lemon", price="1.00"))

    response = checkout_with_points(shopper_client, "250")

    assert response.status_code == 400
    assert "That is more than the ¥1.00 left to pay. Use at most 100 points on this order." in response.content.decode()
    assert not shop_orders(shop).exists() and store.points_balance(shopper) == 250
    call_command("audit")


def test_the_red_packet_chosen_lowers_the_points_that_fit(shopper_client, shopper, shop, points_250):
    packet = grant(shop["campaign"], shopper)
    add(shopper_client, product(shop["merchant"], "Melon", price="51.00"))  # 51.00 − 10.00 packet = 41.00 to pay

    html = open_checkout(shopper_client)[0].content.decode()

    radio = re.search(rf'<input type="radio" name="packet" id="packet_{packet.pk}"[^>]*>', html, re.S).group(0)
    assert 'data-points-usable="250"' in radio
    lemon = product(shop["merchant"], "Lemon", price="1.00")
    shopper_client.post("/store/cart/update/", {"product": Product.objects.get(name="Melon").pk, "quantity": 0})
    add(shopper_client, lemon)
    html = open_checkout(shopper_client)[0].content.decode()
    assert "Up to 100 points (¥1.00) on this order." in html


def test_points_in_fractions_of_a_fen_are_refused(shopper_client, shopper, shop, points_250, settings):
    settings.POINTS_PER_CNY = 1000  # 10 points = ¥0.01
    add(shopper_client, shop["mango"])

    response = checkout_with_points(shopper_client, "245")

    assert response.status_code == 400
    assert "Points are used in steps of 10 points, each worth ¥0.01." in response.content.decode()
    assert not shop_orders(shop).exists() and store.points_balance(shopper) == 250
    call_command("audit")


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("-5", "Enter the points as a whole number, like 300."),
        ("2.5", "Enter the points as a whole number, like 300."),
        ("abc", "Enter the points as a whole number, like 300."),
        ("1e3", "Enter the points as a whole number, like 300."),
        ("9" * 40, "You have only 250 points."),
    ],
)
def test_tampered_points_are_refused_with_a_clear_message_and_nothing_is_written(
    shopper_client, shopper, shop, points_250, typed, message
):
    add(shopper_client, shop["mango"])

    response = checkout_with_points(shopper_client, typed)

    assert response.status_code == 400
    assert f'id="points_error" role="alert">{message}</p>' in response.content.decode()
    assert not shop_orders(shop).exists() and store.points_balance(shopper) == 250
    call_command("audit")


def test_points_typed_with_full_width_digits_are_accepted(shopper_client, shop, points_250):
    add(shopper_client, shop["mango"])
    checkout_with_points(shopper_client, "１５０")
    assert shop_orders(shop).get().points_used == 150


def test_points_errors_are_in_chinese_for_a_chinese_shopper(shopper_client, shop, points_250):
    add(shopper_client, shop["mango"])
    _, token = open_checkout(shopper_client)
    response = shopper_client.post(
        "/store/checkout/", {"token": token, "packet": "", "points": "300"}, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert "您只有 250 积分。" in response.content.decode()


def test_points_the_ledger_refuses_at_the_last_moment_are_explained_next_to_the_field(
    shopper_client, shopper, shop, points_250, monkeypatch
):
    """Spent in another tab between the page's check and the order: the order service refuses, nothing is written."""
    add(shopper_client, shop["mango"])
    _, token = open_checkout(shopper_client)
    monkeypatch.setattr(store, "points_balance", lambda user: 10_000)

    response = shopper_client.post("/store/checkout/", {"token": token, "packet": "", "points": "300"})

    assert response.status_code == 400
    assert 'id="points_error"' in response.content.decode()
    assert "You no longer have that many points." in response.content.decode()
    monkeypatch.undo()
    assert not shop_orders(shop).exists() and store.points_balance(shopper) == 250
    call_command("audit")


def test_a_shopper_without_points_is_told_how_to_get_them(shopper_client, shop):
    add(shopper_client, shop["mango"])
    html = open_checkout(shopper_client)[0].content.decode()
    assert "You have no points yet." in html
    assert 'name="points"' not in html


def test_order_page_shows_the_points_discount(shopper_client, shop, points_250):
    add(shopper_client, shop["mango"])
    response = checkout_with_points(shopper_client, "200")

    html = shopper_client.get(response.url).content.decode()

    assert "200 points" in html
    assert '<dd class="amount amount--minus" data-points-discount>−¥2.00</dd>' in html
    assert "¥23.00" in html


# --- the navigation (templates/base.html) --------------------------------------------------------------------------

NAV_LINKS = ["/", "/store/", "/packets/", "/checkin/", "/share/", "/wallet/", "/accounts/profile/"]


def nav_of(html: str) -> str:
    return re.search(r'<nav class="mainnav" aria-label="Main navigation">(.*?)</nav>', html, re.S).group(1)


def test_the_navigation_links_every_shopper_page(shopper_client):
    nav = nav_of(shopper_client.get("/store/").content.decode())
    assert re.findall(r'<a href="([^"]+)"', nav) == NAV_LINKS
    for label in ("Home", "Store", "Packets", "Check in", "Share", "Wallet", "Profile"):
        assert f">{label}</a>" in nav


@pytest.mark.parametrize(
    ("path", "current"),
    [
        ("/store/cart/", "/store/"),
        ("/packets/?tab=used", "/packets/"),
        ("/checkin/", "/checkin/"),
        ("/share/", "/share/"),
        ("/wallet/", "/wallet/"),
        ("/accounts/profile/", "/accounts/profile/"),
    ],
)
def test_the_navigation_marks_the_current_page_and_only_it(shopper_client, path, current):
    nav = nav_of(shopper_client.get(path).content.decode())
    assert re.findall(r'<a href="([^"]+)" aria-current="page">', nav) == [current]


def test_the_navigation_speaks_chinese(shopper_client):
    html = shopper_client.get("/wallet/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    nav = re.search(r'<nav class="mainnav" aria-label="主导航">(.*?)</nav>', html, re.S).group(1)
    assert re.findall(r">([^<>]+)</a>", nav) == ["首页", "商城", "红包", "签到", "分享", "钱包", "我的"]
