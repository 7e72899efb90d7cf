"""Earning pages: claim by code, the poster landing, the daily check-in, share my link, the home dashboard and the
order trace."""

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connections
from django.test import Client
from django.utils import timezone

from packets import batch as batches
from packets import posters
from packets.checkin import checkin_day, checkin_record
from packets.models import CheckIn, Order, Packet
from packets.services import LineInput, order_create, order_refund, packet_grant
from rebates.services import rebates_credit_for_redemption
from tests.e2e.seed import event_campaign
from tests.factories.accounts import MerchantFactory, MerchantStaffFactory, UserFactory
from tests.factories.campaigns import CampaignFactory, two_way_campaign

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def shopper():
    return UserFactory(phone="13700001111")


@pytest.fixture
def shopper_client(client, shopper):
    client.force_login(shopper)
    return client


@pytest.fixture
def codes():
    """Two unclaimed packets of a verified merchant's campaign, generated as a batch (cards, leaflets, CSV)."""
    campaign = two_way_campaign(merchant=MerchantFactory(name="鲜果坊", is_verified=True))
    batch = batches.packets_generate(campaign=campaign, count=2)
    return list(Packet.objects.filter(batch=batch).order_by("pk").values_list("code", flat=True))


def spaced_lower(code: str) -> str:
    raw = code.replace("-", "").lower()
    return " ".join(raw[i : i + 4] for i in range(0, 16, 4))


# --- claim by code ------------------------------------------------------------------------------------------------


def test_a_typed_code_in_lower_case_with_spaces_is_claimed(shopper_client, shopper, codes):
    response = shopper_client.post("/claim/", {"code": f"  {spaced_lower(codes[0])} "})
    assert response.status_code == 302 and response.url == f"/claim/{codes[0]}/"
    assert Packet.objects.get(code=codes[0]).holder == shopper
    html = shopper_client.get(response.url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-claim-state="mine"' in html
    assert "The red packet is yours." in html


def test_a_code_with_dashes_typos_and_no_spaces_is_claimed_too(shopper_client, shopper, codes):
    typed = codes[1].lower().replace("0", "o").replace("1", "l")  # O and I/L read as 0 and 1
    assert shopper_client.post("/claim/", {"code": typed}).status_code == 302
    assert Packet.objects.get(code=codes[1]).holder == shopper


def test_an_unknown_code_says_so_next_to_the_field(shopper_client, codes):
    response = shopper_client.post("/claim/", {"code": "ABCD-EFGH-JKMN-PQRS"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 404
    assert response.context["form"].errors["code"] == [
        "We could not find a red packet with this code. Please check it and try again."
    ]
    zh = shopper_client.post("/claim/", {"code": "ABCD-EFGH-JKMN-PQRS"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "没有找到这个红包码对应的红包" in zh.content.decode()


def test_something_that_cannot_be_a_code_is_refused_before_any_lookup(shopper_client):
    response = shopper_client.post("/claim/", {"code": "hello"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert "16 letters and digits" in response.context["form"].errors["code"][0]


def test_a_code_claimed_by_someone_else_is_refused(shopper_client, codes):
    batches.packet_claim(code=codes[0], user=UserFactory())
    response = shopper_client.post("/claim/", {"code": codes[0]}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 409
    assert response.context["form"].errors["code"] == ["This red packet has already been claimed by someone else."]
    page = shopper_client.get(f"/claim/{codes[0]}/", HTTP_ACCEPT_LANGUAGE="en")
    assert 'data-claim-state="taken"' in page.content.decode()


def test_the_claim_link_shows_the_packet_and_claims_only_on_post(shopper_client, shopper, codes):
    page = shopper_client.get(f"/claim/{codes[0]}/", HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert page.status_code == 200 and 'data-claim-state="open"' in html
    assert "¥10.00" in html and "Min. spend ¥50.00" in html
    packet = Packet.objects.get(code=codes[0])
    assert packet.holder is None  # a link preview or a prefetch never claims
    assert f'href="/campaigns/{packet.campaign_id}/rules/"' in html
    assert "鲜果坊" in html and 'data-verified="yes"' in html

    response = shopper_client.post(f"/claim/{codes[0]}/")
    assert response.status_code == 302
    assert Packet.objects.get(code=codes[0]).holder == shopper
    again = shopper_client.post(f"/claim/{codes[0]}/")  # a second tap: still mine, no error
    assert again.status_code == 302


def test_a_claim_link_typed_loosely_redirects_to_the_canonical_one(shopper_client, codes):
    response = shopper_client.get(f"/claim/{codes[0].lower()}/")
    assert response.status_code == 302 and response.url == f"/claim/{codes[0]}/"


def test_an_unknown_claim_link_is_a_404_with_the_message(shopper_client):
    response = shopper_client.get("/claim/ABCD-EFGH-JKMN-PQRS/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 404
    assert "We could not find a red packet with this code." in response.content.decode()
    assert shopper_client.get("/claim/not-a-code/").status_code == 404


def test_claiming_needs_a_login_and_comes_back_to_the_code(client, codes):
    response = client.get(f"/claim/{codes[0]}/")
    assert response.status_code == 302 and response.url.startswith("/accounts/login/?next=/claim/")
    typed = client.post("/claim/", {"code": spaced_lower(codes[0])})
    assert typed.status_code == 302
    assert typed.url == f"/accounts/login/?next=/claim/{codes[0]}/"
    assert Packet.objects.get(code=codes[0]).holder is None
    assert client.get("/claim/").status_code == 200  # anyone may open the form


def test_merchant_staff_cannot_claim(client, codes):
    staff = MerchantStaffFactory()
    client.force_login(staff.user)
    response = client.post(f"/claim/{codes[0]}/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 403
    assert "Merchant staff accounts cannot claim red packets." in response.content.decode()
    assert Packet.objects.get(code=codes[0]).holder is None


def test_the_claim_page_lists_campaigns_handing_out_codes(client, codes):
    campaign = Packet.objects.get(code=codes[0]).campaign
    html = client.get("/claim/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert campaign.name in html and f'href="/campaigns/{campaign.pk}/rules/"' in html


def test_the_poster_landing_names_the_campaign_and_offers_sign_up_with_the_channel(client):
    campaign = event_campaign(merchant=MerchantFactory(name="鲜果坊", is_verified=True))
    url = posters.campaign_claim_path(campaign.pk, "mall-3f")
    html = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert campaign.name in html
    assert 'href="/accounts/signup/?ch=mall-3f"' in html
    assert f'href="/campaigns/{campaign.pk}/rules/"' in html and 'data-verified="yes"' in html
    draft = CampaignFactory(status="draft")
    assert client.get(posters.campaign_claim_path(draft.pk, "x")).status_code == 404


def test_an_unverified_organiser_is_shown_as_such(client):
    campaign = event_campaign(merchant=MerchantFactory(is_verified=False))
    html = client.get(f"/claim/campaign/{campaign.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-verified="no"' in html and "Not verified" in html


# --- daily check-in -----------------------------------------------------------------------------------------------


def test_check_in_once_a_day_issues_the_check_in_packet_once(shopper_client, shopper):
    campaign = event_campaign()
    first = shopper_client.post("/checkin/", HTTP_ACCEPT_LANGUAGE="en")
    second = shopper_client.post("/checkin/", HTTP_ACCEPT_LANGUAGE="en")
    assert first.status_code == second.status_code == 302
    assert CheckIn.objects.filter(user=shopper).count() == 1
    packets = Packet.objects.filter(holder=shopper, channel="check_in", campaign=campaign)
    assert [str(p.amount) for p in packets] == ["1.00"]
    html = shopper_client.get("/checkin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-checked-in="yes"' in html and 'data-streak="1"' in html
    assert "You have already checked in today." in html
    assert f'href="/campaigns/{campaign.pk}/rules/"' in html


def test_the_check_in_page_does_not_check_in_and_needs_a_login(client, shopper):
    assert client.get("/checkin/").status_code == 302
    client.force_login(shopper)
    html = client.get("/checkin/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert 'data-checked-in="no"' in html and "签到" in html
    assert not CheckIn.objects.exists()


def test_the_streak_continues_from_yesterday_and_restarts_after_a_gap(shopper):
    now = timezone.now()
    today = checkin_day(now)
    CheckIn.objects.create(user=shopper, day=today - timedelta(days=1), streak=4)
    assert checkin_record(user=shopper, now=now).checkin.streak == 5

    other = UserFactory()
    CheckIn.objects.create(user=other, day=today - timedelta(days=2), streak=9)
    assert checkin_record(user=other, now=now).checkin.streak == 1


def test_the_day_is_the_day_in_china():
    # 16:30 UTC on 1 January is half past midnight on 2 January in Shanghai.
    assert checkin_day(datetime(2026, 1, 1, 16, 30, tzinfo=UTC)) == date(2026, 1, 2)
    assert checkin_day(datetime(2026, 1, 1, 15, 59, tzinfo=UTC)) == date(2026, 1, 1)


def test_checking_in_across_midnight_in_china_counts_two_days(shopper):
    before = datetime(2026, 1, 1, 15, 59, tzinfo=UTC)
    after = datetime(2026, 1, 1, 16, 1, tzinfo=UTC)
    assert checkin_record(user=shopper, now=before).created
    second = checkin_record(user=shopper, now=after)
    assert second.created and second.checkin.streak == 2


def test_the_check_in_page_shows_the_last_seven_days(shopper_client, shopper):
    today = checkin_day(timezone.now())
    for offset, streak in ((2, 1), (1, 2)):
        CheckIn.objects.create(user=shopper, day=today - timedelta(days=offset), streak=streak)
    html = shopper_client.get("/checkin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-streak="2"' in html and 'data-checked-in="no"' in html  # the streak lives until tonight
    assert html.count("week__day--done") == 2


@pytest.mark.django_db(transaction=True)
def test_a_double_submit_is_one_check_in():
    event_campaign()
    user = UserFactory()
    barrier = threading.Barrier(3)
    statuses = []

    def tap():
        try:
            client = Client()
            client.force_login(user)
            barrier.wait(timeout=10)
            statuses.append(client.post("/checkin/").status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=tap) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert statuses == [302, 302, 302]
    assert CheckIn.objects.filter(user=user).count() == 1
    assert Packet.objects.filter(holder=user, channel="check_in").count() == 1


def test_check_in_is_post_only_for_writes(shopper_client):
    assert shopper_client.put("/checkin/").status_code == 405


# --- share my link ------------------------------------------------------------------------------------------------


def test_the_share_page_has_the_link_a_copy_button_and_the_qr_code(shopper_client, shopper):
    campaign = event_campaign(merchant=MerchantFactory(name="鲜果坊", is_verified=True))
    response = shopper_client.get("/share/", HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    link = f"http://testserver/accounts/signup/?share={shopper.invite_code}&ch=link"
    qr_link = f"http://testserver/accounts/signup/?share={shopper.invite_code}&amp;ch=qr"
    assert f'value="{link.replace("&", "&amp;")}"' in html
    assert 'data-copy="#share-link"' in html and "/static/js/copy.js" in html
    assert 'class="qr"' in html and "<svg" in html
    assert posters.qr_svg(qr_link.replace("&amp;", "&")) in html  # the QR encodes the link tagged ch=qr
    assert f'href="/campaigns/{campaign.pk}/rules/"' in html and 'data-verified="yes"' in html


def test_the_share_page_lists_friends_masked(shopper_client, shopper):
    UserFactory(phone="13911112222", invited_by=shopper)
    html = shopper_client.get("/share/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "139****2222" in html and "13911112222" not in html


def test_the_share_link_signs_a_friend_up_as_invitee(client, shopper_client, shopper):
    html = shopper_client.get("/share/").content.decode()
    start = html.index("/accounts/signup/?share=")
    path = html[start : html.index('"', start)].replace("&amp;", "&")
    friend = Client()
    page = friend.get(path)
    assert page.context["form"].initial == {"invite_code": shopper.invite_code, "ch": "link"}


# --- home ---------------------------------------------------------------------------------------------------------


def test_home_shows_campaigns_wallet_summary_and_packets_expiring_within_three_days(shopper_client, shopper):
    campaign = two_way_campaign(merchant=MerchantFactory(name="鲜果坊", is_verified=True))
    soon = packet_grant(rule=campaign.earn_rules.get(), holder=shopper)
    later = packet_grant(rule=campaign.earn_rules.get(), holder=shopper)
    Packet.objects.filter(pk=soon.pk).update(expires_at=timezone.now() + timedelta(days=2))
    Packet.objects.filter(pk=later.pk).update(expires_at=timezone.now() + timedelta(days=5))

    html = shopper_client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert f'href="/campaigns/{campaign.pk}/rules/"' in html and 'data-verified="yes"' in html
    assert 'data-summary="cash">¥0.00<' in html and 'data-summary="points">0 points<' in html
    assert 'data-expiring="1"' in html and soon.code in html and later.code not in html
    assert 'href="/checkin/"' in html and 'href="/share/"' in html and 'href="/claim/"' in html


def test_home_for_visitors_invites_to_sign_up(client):
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert 'href="/accounts/signup/"' in html and "注册领新人红包" in html
    assert "data-summary" not in html


# --- order trace --------------------------------------------------------------------------------------------------


def _spend(shopper, *, amount="59.90"):
    """A purchase ≥ 200 earns the 10.00 packet; a second purchase spends it; the worker's step is run here."""
    merchant = MerchantFactory(name="鲜果坊")
    campaign = two_way_campaign(merchant=merchant)
    line = LineInput(sku="FR-MANGO", name="Mango", category="fruit", quantity=1, unit_price=D("200.00"))
    first = order_create(merchant=merchant, shopper=shopper, order_no="T-1", lines=[line], gross_amount=D("200.00"))
    packet = first.earned_packets.get()
    line = LineInput(sku="FR-MANGO", name="Mango", category="fruit", quantity=1, unit_price=D(amount))
    second = order_create(
        merchant=merchant,
        shopper=shopper,
        order_no="T-2",
        lines=[line],
        gross_amount=D(amount),
        packet_code=packet.code,
    )
    return campaign, first, second


def test_the_trace_of_an_order_that_spent_a_packet_shows_every_step_in_order(shopper_client, shopper):
    campaign, first, second = _spend(shopper)
    computing = shopper_client.get(f"/orders/{second.pk}/trace/", HTTP_ACCEPT_LANGUAGE="en")
    steps = [s["kind"] for s in computing.context["steps"]]
    assert steps == ["ordered", "packet_spent", "reserved", "computing"]

    rebates_credit_for_redemption(redemption_id=second.redemption.pk)
    response = shopper_client.get(f"/orders/{second.pk}/trace/", HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    assert [s["kind"] for s in response.context["steps"]] == [
        "ordered",
        "packet_spent",
        "reserved",
        "credited",
        "credited",
    ]
    assert "¥8.99 set aside" in html  # 10 % + 5 % of 59.90 = 5.99 + 3.00 (half up)
    assert "Your rebate credited: ¥3.00" in html and "The merchant&#x27;s rebate credited: ¥5.99" in html
    assert f'href="/campaigns/{campaign.pk}/rules/"' in html
    assert all(s["at"] for s in response.context["steps"])

    earned = shopper_client.get(f"/orders/{first.pk}/trace/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert [s["kind"] for s in earned.context["steps"]] == ["ordered", "earned"]
    assert "获得红包：¥10.00" in earned.content.decode()


def test_a_held_rebate_shows_its_hold_end_and_a_refund_its_reversal(shopper_client, shopper):
    campaign, _first, second = _spend(shopper)
    from campaigns.models import Campaign

    Campaign.objects.filter(pk=campaign.pk).update(hold_days=7)
    # The snapshot was taken at redemption: hold it there too, as an order placed under the 7-day rule would be.
    redemption = second.redemption
    redemption.rule_snapshot = {**redemption.rule_snapshot, "hold_days": 7}
    redemption.save(update_fields=["rule_snapshot"])
    rebates_credit_for_redemption(redemption_id=redemption.pk)
    response = shopper_client.get(f"/orders/{second.pk}/trace/", HTTP_ACCEPT_LANGUAGE="en")
    kinds = [s["kind"] for s in response.context["steps"]]
    assert kinds == ["ordered", "packet_spent", "reserved", "computed", "pending", "computed", "pending"]
    assert "Pending until" in response.content.decode()

    order_refund(order=Order.objects.get(pk=second.pk), amount=D("59.90"), reason="damaged")
    response = shopper_client.get(f"/orders/{second.pk}/trace/", HTTP_ACCEPT_LANGUAGE="en")
    kinds = [s["kind"] for s in response.context["steps"]]
    assert kinds == ["ordered", "packet_spent", "reserved", "computed", "computed", "refund", "reversed", "reversed"]
    assert "damaged" in response.content.decode()


def test_the_trace_is_for_the_orders_own_shopper_only(client, shopper):
    _campaign, _first, second = _spend(shopper)
    assert client.get(f"/orders/{second.pk}/trace/").status_code == 302  # to the login page
    client.force_login(UserFactory())
    assert client.get(f"/orders/{second.pk}/trace/").status_code == 404
    assert client.get("/orders/999999/trace/").status_code == 404


# --- wallet history filters ----------------------------------------------------------------------------------------


def test_the_wallet_history_filters_by_state_and_form_and_links_the_trace(shopper_client, shopper):
    _campaign, _first, credited = _spend(shopper)
    rebates_credit_for_redemption(redemption_id=credited.redemption.pk)
    merchant = credited.merchant
    line = LineInput(sku="FR-APPLE", name="Apple", category="fruit", quantity=1, unit_price=D("200.00"))
    third = order_create(merchant=merchant, shopper=shopper, order_no="T-3", lines=[line], gross_amount=D("200.00"))
    packet = third.earned_packets.get()
    line = LineInput(sku="FR-APPLE", name="Apple", category="fruit", quantity=1, unit_price=D("60.00"))
    computing = order_create(
        merchant=merchant,
        shopper=shopper,
        order_no="T-4",
        lines=[line],
        gross_amount=D("60.00"),
        packet_code=packet.code,
    )  # the worker has not run for this one

    everything = shopper_client.get("/wallet/", HTTP_ACCEPT_LANGUAGE="en")
    html = everything.content.decode()
    assert credited.order_no in html and computing.order_no in html
    assert f'href="/orders/{credited.pk}/trace/"' in html
    assert 'aria-current="page">All<' in html

    only_computing = shopper_client.get("/wallet/?state=computing").content.decode()
    assert computing.order_no in only_computing and credited.order_no not in only_computing
    only_credited = shopper_client.get("/wallet/?state=credited&form=cash").content.decode()
    assert credited.order_no in only_credited and computing.order_no not in only_credited
    assert 'href="?state=credited"' in only_credited  # the "All forms" chip keeps the state
    points = shopper_client.get("/wallet/?form=points", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "No rebates match these filters." in points
    ignored = shopper_client.get("/wallet/?state=nonsense&form=nonsense")
    assert ignored.status_code == 200 and computing.order_no in ignored.content.decode()
