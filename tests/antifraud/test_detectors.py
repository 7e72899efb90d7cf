"""Detectors: each on a crafted fraud case and on an honest look-alike that must not produce a finding.

Earning events, device uses, orders, redemptions and rebates are written directly (in production the earning paths'
hooks and the rebate worker write them); the detectors only read them."""

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import DeviceUse
from antifraud import tasks
from antifraud.detectors import (
    detect_all,
    detect_circular_flows,
    detect_collusion,
    detect_packet_farms,
    detect_referral_farms,
    detect_self_referral,
    finding_record,
    open_findings_for,
    rebates_hold_for_finding,
)
from antifraud.models import EarningEvent, Finding, ListEntry, ReviewAction
from packets.models import Order, Packet, Redemption, Refund
from rebates.models import LedgerTransaction, Rebate
from rebates.payouts.models import Payout, WechatOpenId
from tests.factories.accounts import DeviceFactory, MerchantStaffFactory, UserFactory
from tests.factories.campaigns import CampaignFactory

D = Decimal
_seq = itertools.count(1)

pytestmark = pytest.mark.django_db


# --- building blocks -------------------------------------------------------------------------------------------------


def make_packet(campaign, *, holder, issuer_user=None, at=None):
    at = at or timezone.now()
    return Packet.objects.create(
        code=f"T{next(_seq):010d}",
        campaign=campaign,
        holder=holder,
        issuer_user=issuer_user,
        issuer_merchant=None if issuer_user else campaign.merchant,
        amount=D("10.00"),
        min_spend=D("0.00"),
        issued_at=at,
        expires_at=at + timedelta(days=30),
    )


def earn(user, *, campaign, kind="claim", ip=None, device=None, at=None, packet=None):
    """An earning event: `user` earned/claimed (or spent) a packet from this IP and device."""
    return EarningEvent.objects.create(
        kind=kind,
        campaign=campaign,
        packet=packet or make_packet(campaign, holder=user, at=at),
        user=user,
        ip=ip,
        device=device,
        at=at or timezone.now(),
    )


def spend(campaign, shopper, *, issuer_user=None, ip=None, device=None, status="credited", at=None):
    """A packet spent on an order at the campaign's merchant: order, redemption, its `redeem` event and two rebate
    legs (holder: the shopper; issuer: the merchant, or `issuer_user` for a person-to-person packet)."""
    at = at or timezone.now()
    packet = make_packet(campaign, holder=shopper, issuer_user=issuer_user, at=at)
    order = Order.objects.create(
        merchant=campaign.merchant,
        shopper=shopper,
        order_no=f"O-{next(_seq)}",
        gross_amount=D("50.00"),
        packet=packet,
        discount=D("10.00"),
        amount_paid=D("40.00"),
        channel=Order.Channel.API,
        ip=ip,
        device=device,
    )
    Packet.objects.filter(pk=packet.pk).update(status=Packet.Status.USED, used_at=at)
    redemption = Redemption.objects.create(
        packet=packet,
        order=order,
        order_no=order.order_no,
        order_amount=D("50.00"),
        items=[],
        used_at=at,
        rule_snapshot={},
    )
    earn(shopper, campaign=campaign, kind="redeem", ip=ip, device=device, at=at, packet=packet)
    tx = LedgerTransaction.objects.create(
        kind="test", idempotency_key=f"test:{redemption.pk}", reference=f"redemption:{redemption.pk}"
    )
    Rebate.objects.create(
        redemption=redemption,
        role="holder",
        beneficiary_user=shopper,
        amount=D("2.50"),
        form="cash",
        status=status,
        ledger_transaction=tx,
    )
    Rebate.objects.create(
        redemption=redemption,
        role="issuer",
        beneficiary_user=issuer_user,
        beneficiary_merchant=None if issuer_user else campaign.merchant,
        amount=D("5.00"),
        form="cash" if issuer_user else "marketing_credit",
        status=status,
        ledger_transaction=tx,
    )
    return order


def used(device, *users):
    now = timezone.now()
    for user in users:
        DeviceUse.objects.create(device=device, user=user, first_seen=now, last_seen=now)


def findings(kind):
    return list(Finding.objects.filter(kind=kind))


@pytest.fixture
def campaign():
    return CampaignFactory()


@pytest.fixture
def staff(campaign):
    return MerchantStaffFactory(merchant=campaign.merchant).user


def regulars(campaign, counts, **kw):
    """Shoppers with that many rebate-earning orders each at the campaign's merchant."""
    shoppers = []
    for n in counts:
        shopper = UserFactory()
        for _ in range(n):
            spend(campaign, shopper, **kw)
        shoppers.append(shopper)
    return shoppers


# --- 1. collusion ----------------------------------------------------------------------------------------------------


def test_collusion_staff_device_shared_with_two_top_shoppers_is_a_finding(campaign, staff):
    a, b, *_others = regulars(campaign, [5, 3, 1, 1])
    phone = DeviceFactory()
    used(phone, staff, a, b)

    detect_collusion()

    (finding,) = findings("collusion")
    assert finding.merchant_id == campaign.merchant_id
    assert sorted(finding.user_ids) == sorted([a.pk, b.pk, staff.pk])
    assert finding.evidence["concentrated"] is True
    assert finding.evidence["redemptions"] == 10
    assert len(finding.evidence["order_ids"]) == 8
    assert "shares device" in finding.explanation and str(staff) in finding.explanation


def test_collusion_loyal_regulars_who_share_nothing_with_staff_are_no_finding(campaign, staff):
    a, *_others = regulars(campaign, [5, 3, 2], ip="10.0.0.9")
    used(DeviceFactory(), a)
    used(DeviceFactory(), staff)
    earn(staff, campaign=campaign, ip="10.0.0.1")

    assert detect_collusion() == []


def test_collusion_payout_account_shared_with_staff_on_two_orders_is_a_finding_without_concentration(campaign, staff):
    (shopper,) = regulars(campaign, [2])
    regulars(campaign, [1] * 10)  # plenty of other shoppers: not concentrated
    WechatOpenId.objects.create(user=staff, appid="wx-shop", openid="o-shared")
    Payout.objects.create(
        pk=9_000_001,
        out_bill_no="RP9000001",
        beneficiary=shopper,
        amount=D("1.00"),
        channel="wechat_balance",
        openid="o-shared",
    )

    (finding,) = detect_collusion()

    assert finding.evidence["concentrated"] is False
    assert {"shopper": shopper.pk, "staff": staff.pk, "via": "payout", "value": "o-shared"} in finding.evidence["links"]


def test_collusion_a_single_order_sharing_an_ip_with_staff_is_no_finding(campaign, staff):
    regulars(campaign, [1], ip="10.0.0.5")
    regulars(campaign, [1] * 10)
    earn(staff, campaign=campaign, ip="10.0.0.5")

    assert detect_collusion() == []


def test_collusion_staff_spending_at_their_own_shop_is_a_finding(campaign, staff):
    spend(campaign, staff)
    spend(campaign, staff)

    (finding,) = detect_collusion()

    assert finding.user_ids == [staff.pk]
    assert "is staff of the merchant" in finding.explanation


def test_collusion_a_busy_shop_wifi_ip_is_not_evidence(campaign, staff):
    regulars(campaign, [3], ip="10.1.1.1")
    earn(staff, campaign=campaign, ip="10.1.1.1")
    for _ in range(21):  # the whole neighbourhood earns through this IP
        earn(UserFactory(), campaign=campaign, ip="10.1.1.1")

    assert detect_collusion() == []


# --- 2. self-referral ------------------------------------------------------------------------------------------------


def test_self_referral_invitee_on_the_inviters_device_is_a_finding():
    inviter = UserFactory()
    invitee = UserFactory(invited_by=inviter)
    used(DeviceFactory(), inviter, invitee)

    (finding,) = detect_self_referral()

    assert finding.user_ids == sorted([inviter.pk, invitee.pk])
    assert finding.evidence["links"][0]["via"] == "device"
    assert f"invited by #{inviter.pk}" in finding.explanation


def test_self_referral_invitee_paid_to_the_inviters_wechat_is_a_finding():
    inviter = UserFactory()
    invitee = UserFactory(invited_by=inviter)
    WechatOpenId.objects.create(user=inviter, appid="wx-app", openid="o-one-person")
    Payout.objects.create(
        pk=9_000_002,
        out_bill_no="RP9000002",
        beneficiary=invitee,
        amount=D("1.00"),
        channel="wechat_balance",
        openid="o-one-person",
    )

    (finding,) = detect_self_referral()

    assert finding.evidence["links"] == [{"via": "payout", "value": "o-one-person"}]


def test_self_referral_signup_from_the_inviters_ip_minutes_after_the_inviter_earned_is_a_finding(campaign):
    joined = timezone.now() - timedelta(hours=2)
    inviter = UserFactory()
    invitee = UserFactory(invited_by=inviter, date_joined=joined)
    earn(inviter, campaign=campaign, ip="10.2.0.7", at=joined - timedelta(minutes=10))
    earn(invitee, campaign=campaign, ip="10.2.0.7", at=joined + timedelta(minutes=3))

    (finding,) = detect_self_referral()

    assert finding.evidence["links"] == [{"via": "signup_ip", "value": "10.2.0.7"}]


def test_self_referral_a_friend_on_their_own_phone_using_the_same_ip_hours_later_is_no_finding(campaign):
    joined = timezone.now() - timedelta(hours=2)
    inviter = UserFactory()
    invitee = UserFactory(invited_by=inviter, date_joined=joined)
    used(DeviceFactory(), inviter)
    used(DeviceFactory(), invitee)
    earn(inviter, campaign=campaign, ip="10.2.0.7", at=joined - timedelta(hours=5))
    earn(invitee, campaign=campaign, ip="10.2.0.7", at=joined + timedelta(minutes=3))
    WechatOpenId.objects.create(user=inviter, appid="wx-app", openid="o-inviter")
    WechatOpenId.objects.create(user=invitee, appid="wx-app", openid="o-invitee")

    assert detect_self_referral() == []


# --- 3. referral farm ------------------------------------------------------------------------------------------------


def test_referral_farm_four_invitees_on_one_device_is_one_finding_listing_them(campaign):
    inviter = UserFactory()
    invitees = [UserFactory(invited_by=inviter) for _ in range(4)]
    used(DeviceFactory(), *invitees)

    (finding,) = detect_referral_farms()

    assert finding.user_ids == sorted([inviter.pk, *(u.pk for u in invitees)])
    assert finding.evidence["invitees"] == sorted(u.pk for u in invitees)
    assert "4 accounts invited by" in finding.explanation


def test_referral_farm_invitees_earning_from_one_ip_is_a_finding(campaign):
    inviter = UserFactory()
    invitees = [UserFactory(invited_by=inviter) for _ in range(3)]
    for invitee in invitees:
        earn(invitee, campaign=campaign, ip="10.3.0.1")

    (finding,) = detect_referral_farms()

    assert finding.evidence["shared"] == [
        {"via": "ip", "value": "10.3.0.1", "invitees": sorted(u.pk for u in invitees)}
    ]


def test_referral_farm_four_invitees_on_four_devices_and_ips_is_no_finding(campaign):
    inviter = UserFactory()
    for i in range(4):
        invitee = UserFactory(invited_by=inviter)
        used(DeviceFactory(), invitee)
        earn(invitee, campaign=campaign, ip=f"10.4.0.{i + 1}")

    assert detect_referral_farms() == []


def test_referral_farm_by_ipv4_slash_24_when_configured(campaign, settings):
    settings.ANTIFRAUD_REFERRAL_FARM_IPV4_PREFIX = 24
    inviter = UserFactory()
    for i in range(3):
        earn(UserFactory(invited_by=inviter), campaign=campaign, ip=f"10.5.0.{i + 1}")

    (finding,) = detect_referral_farms()

    assert finding.evidence["shared"][0]["value"] == "10.5.0.0/24"


# --- 4. circular flows -----------------------------------------------------------------------------------------------


def test_circular_flow_a_to_b_to_a_spent_is_a_finding(campaign):
    a, b = UserFactory(), UserFactory()
    spend(campaign, b, issuer_user=a)
    spend(campaign, a, issuer_user=b)

    (finding,) = detect_circular_flows()

    assert finding.user_ids == sorted([a.pk, b.pk])
    assert finding.fingerprint == f"ring:{min(a.pk, b.pk)}-{max(a.pk, b.pk)}"
    assert len(finding.evidence["edges"]) == 2


def test_circular_flow_a_to_b_to_c_to_a_is_one_finding_with_the_three(campaign):
    a, b, c = UserFactory(), UserFactory(), UserFactory()
    spend(campaign, b, issuer_user=a)
    spend(campaign, c, issuer_user=b)
    spend(campaign, a, issuer_user=c)

    (finding,) = detect_circular_flows()

    assert finding.user_ids == sorted([a.pk, b.pk, c.pk])


def test_circular_flow_not_closed_by_a_spent_packet_is_no_finding(campaign):
    a, b, c = UserFactory(), UserFactory(), UserFactory()
    spend(campaign, b, issuer_user=a)
    make_packet(campaign, holder=a, issuer_user=b)  # sent back, never spent
    spend(campaign, c, issuer_user=b)  # a chain a→b→c, not a ring

    assert detect_circular_flows() == []


# --- 5. packet farming -----------------------------------------------------------------------------------------------


def test_packet_farm_three_accounts_claiming_from_one_device_in_a_day_is_a_finding(campaign):
    phone = DeviceFactory()
    accounts = [UserFactory() for _ in range(3)]
    for user in accounts:
        earn(user, campaign=campaign, device=phone)

    (finding,) = detect_packet_farms()

    assert finding.user_ids == sorted(u.pk for u in accounts)
    assert finding.fingerprint.startswith(f"device:{phone.pk}:")


def test_packet_farm_names_the_accounts_that_used_its_connection_on_other_days_too(campaign):
    """A daily limit spreads a farm over days: the account it opened the next day is named with the rest."""
    today = [UserFactory() for _ in range(3)]
    for user in today:
        earn(user, campaign=campaign, ip="10.6.0.9", device=DeviceFactory())
    straggler = UserFactory()
    earn(straggler, campaign=campaign, ip="10.6.0.9", device=DeviceFactory(), at=timezone.now() - timedelta(days=1))

    (finding,) = detect_packet_farms()

    assert finding.user_ids == sorted(u.pk for u in [*today, straggler])
    assert finding.evidence["accounts_that_day"] == 3


def test_packet_farm_one_device_used_by_three_accounts_on_three_days_is_no_finding(campaign):
    phone = DeviceFactory()
    for days_ago in range(3):
        earn(UserFactory(), campaign=campaign, device=phone, at=timezone.now() - timedelta(days=days_ago))

    assert detect_packet_farms() == []


def established():
    return UserFactory(date_joined=timezone.now() - timedelta(days=90))


def test_packet_farm_new_accounts_on_a_network_with_more_regulars_is_no_finding(campaign):
    """A campus NAT: three students sign up on one day where four established accounts earn or spend too."""
    for user in [established() for _ in range(4)]:
        earn(user, campaign=campaign, ip="10.6.0.9", device=DeviceFactory(), at=timezone.now() - timedelta(days=2))
    for _ in range(3):
        earn(UserFactory(), campaign=campaign, ip="10.6.0.9", device=DeviceFactory())

    assert detect_packet_farms() == []


def test_packet_farm_new_accounts_outnumbering_the_regulars_of_an_ip_is_a_finding(campaign):
    earn(established(), campaign=campaign, kind="redeem", ip="10.6.0.9", device=DeviceFactory())
    fresh = [UserFactory() for _ in range(3)]
    for user in fresh:
        earn(user, campaign=campaign, ip="10.6.0.9", device=DeviceFactory())

    (finding,) = detect_packet_farms()

    assert finding.user_ids == sorted(u.pk for u in fresh)
    assert finding.evidence["established_accounts"] == 1


def test_a_packet_farm_finding_holds_every_leg_of_the_orders_its_accounts_spent_packets_on(campaign):
    phone = DeviceFactory()
    accounts = [UserFactory() for _ in range(3)]
    for user in accounts:
        earn(user, campaign=campaign, device=phone)
    order = spend(campaign, accounts[0], device=phone, status="pending")
    honest_order = spend(campaign, UserFactory(), status="pending")

    (finding,) = detect_packet_farms()

    assert finding.evidence["order_ids"] == [order.pk]
    legs = Rebate.objects.filter(redemption__order=order)
    assert {(r.role, r.held_for_review) for r in legs} == {("holder", True), ("issuer", True)}
    assert not Rebate.objects.filter(redemption__order=honest_order, held_for_review=True).exists()


def buy_and_earn(user, *, campaign, ip, refunded=False):
    """`user` paid for an order from `ip` that earned a packet (an `issue` event of a purchase-earned packet)."""
    order = Order.objects.create(
        merchant=campaign.merchant,
        shopper=user,
        order_no=f"O-{next(_seq)}",
        gross_amount=D("239.00"),
        discount=D("0.00"),
        amount_paid=D("239.00"),
        channel=Order.Channel.API,
        ip=ip,
    )
    packet = make_packet(campaign, holder=user)
    Packet.objects.filter(pk=packet.pk).update(source_order=order)
    if refunded:
        Refund.objects.create(order=order, amount=D("239.00"))
    earn(user, campaign=campaign, kind="issue", ip=ip, packet=packet)


def test_packet_farm_new_accounts_on_one_ip_that_bought_what_earned_their_packets_are_no_finding(campaign):
    """Newcomers on a dorm's Wi-Fi who pay for their orders are customers, not a farm collecting free packets."""
    for _ in range(3):
        buy_and_earn(UserFactory(), campaign=campaign, ip="10.6.0.9")

    assert detect_packet_farms() == []


def test_packet_farm_a_refunded_purchase_does_not_vouch_for_an_account(campaign):
    accounts = [UserFactory() for _ in range(3)]
    for user in accounts:
        buy_and_earn(user, campaign=campaign, ip="10.6.0.9", refunded=True)

    (finding,) = detect_packet_farms()

    assert finding.user_ids == sorted(u.pk for u in accounts)


def test_packet_farm_ignores_an_allow_listed_ip(campaign):
    ListEntry.objects.create(list="allow", kind="ip", value="10.6.0.1", reason="office")
    for _ in range(3):
        earn(UserFactory(), campaign=campaign, ip="10.6.0.1")

    assert detect_packet_farms() == []


# --- re-runs ---------------------------------------------------------------------------------------------------------


def test_rerun_updates_the_same_finding_instead_of_duplicating_it(campaign):
    phone = DeviceFactory()
    for _ in range(3):
        earn(UserFactory(), campaign=campaign, device=phone)
    (first,) = detect_packet_farms()

    (again,) = detect_packet_farms()

    assert Finding.objects.count() == 1
    assert again.pk == first.pk
    assert again.last_seen_at >= first.last_seen_at


def test_a_dismissed_finding_stays_dismissed_on_rerun_with_the_same_evidence(campaign):
    phone = DeviceFactory()
    for _ in range(3):
        earn(UserFactory(), campaign=campaign, device=phone)
    (finding,) = detect_packet_farms()
    Finding.objects.filter(pk=finding.pk).update(status="dismissed")

    detect_packet_farms()

    assert Finding.objects.get(pk=finding.pk).status == "dismissed"


def test_a_dismissed_finding_is_reopened_when_the_evidence_grows(campaign):
    phone = DeviceFactory()
    for _ in range(3):
        earn(UserFactory(), campaign=campaign, device=phone)
    (finding,) = detect_packet_farms()
    Finding.objects.filter(pk=finding.pk).update(status="dismissed")
    earn(UserFactory(), campaign=campaign, device=phone)

    detect_packet_farms()

    reopened = Finding.objects.get(pk=finding.pk)
    assert reopened.status == "open"
    assert len(reopened.user_ids) == 4
    assert reopened.explanation.startswith("Reopened after it was dismissed")


# --- holding money back ----------------------------------------------------------------------------------------------


def test_a_new_finding_holds_the_pending_rebates_of_its_accounts_and_leaves_credited_ones(campaign):
    a, b = UserFactory(), UserFactory()
    spend(campaign, b, issuer_user=a, status="pending")
    spend(campaign, a, issuer_user=b, status="credited")
    bystander = UserFactory()
    spend(campaign, bystander, status="pending")

    (finding,) = detect_circular_flows()

    held = Rebate.objects.filter(held_for_review=True)
    assert sorted(held.values_list("beneficiary_user_id", flat=True)) == sorted([a.pk, b.pk])
    assert set(held.values_list("status", flat=True)) == {"pending"}
    assert not Rebate.objects.filter(status="credited", held_for_review=True).exists()
    assert not Rebate.objects.filter(beneficiary_user=bystander, held_for_review=True).exists()
    actions = ReviewAction.objects.filter(action="hold")
    assert sorted(actions.values_list("target", flat=True)) == sorted(
        f"rebate:{pk}" for pk in held.values_list("pk", flat=True)
    )
    assert {(x.actor_id, x.reason) for x in actions} == {(None, f"finding #{finding.pk}: circular_flow")}


def test_a_rerun_holds_nothing_twice(campaign):
    a, b = UserFactory(), UserFactory()
    spend(campaign, b, issuer_user=a, status="pending")
    spend(campaign, a, issuer_user=b, status="pending")
    (finding,) = detect_circular_flows()
    actions = ReviewAction.objects.count()

    detect_circular_flows()

    assert ReviewAction.objects.count() == actions == 4
    assert rebates_hold_for_finding(finding_id=finding.pk) == 0


def test_collusion_holds_the_merchants_issuer_leg_on_the_linked_orders(campaign, staff):
    shopper = UserFactory()
    linked = [spend(campaign, shopper, status="pending") for _ in range(2)]
    other = spend(campaign, UserFactory(), status="pending")
    used(DeviceFactory(), staff, shopper)

    detect_collusion()

    issuer_held = Rebate.objects.filter(role="issuer", held_for_review=True)
    assert sorted(issuer_held.values_list("redemption__order_id", flat=True)) == sorted(o.pk for o in linked)
    assert not Rebate.objects.filter(redemption__order=other, held_for_review=True).exists()


def test_a_rebate_a_reviewer_released_is_not_held_again(campaign):
    a, b = UserFactory(), UserFactory()
    spend(campaign, b, issuer_user=a, status="pending")
    spend(campaign, a, issuer_user=b, status="pending")
    (finding,) = detect_circular_flows()
    released = Rebate.objects.filter(held_for_review=True).first()
    Rebate.objects.filter(pk=released.pk).update(held_for_review=False)
    ReviewAction.objects.create(action="release", target=f"rebate:{released.pk}", reason="looked fine")

    assert rebates_hold_for_finding(finding_id=finding.pk) == 0
    assert rebates_hold_for_finding(finding_id=finding.pk, respect_releases=False) == 1


def test_finding_record_on_a_dismissed_finding_holds_nothing_unless_the_evidence_grew(campaign):
    user = UserFactory()
    spend(campaign, user, status="pending")
    kw = {"kind": "packet_farm", "fingerprint": "ip:x:day", "merchant_id": None, "explanation": "x"}
    finding, changed = finding_record(user_ids=[], evidence={"refs": ["a"]}, **kw)
    Finding.objects.filter(pk=finding.pk).update(status="dismissed")

    _same, grew = finding_record(user_ids=[], evidence={"refs": ["a"]}, **kw)
    assert (changed, grew, Rebate.objects.filter(held_for_review=True).count()) == (True, False, 0)

    _reopened, grew = finding_record(user_ids=[user.pk], evidence={"refs": ["a"]}, **kw)
    assert grew and Rebate.objects.filter(beneficiary_user=user, held_for_review=True).count() == 1


# --- for the scoring, and the tasks ---------------------------------------------------------------------------------


def test_open_findings_for_names_findings_of_the_accounts_or_the_merchants_collusion(campaign):
    user, other = UserFactory(), UserFactory()
    kw = {"explanation": "x", "evidence": {}}
    mine, _ = finding_record(kind="packet_farm", fingerprint="a", user_ids=[user.pk], merchant_id=None, **kw)
    shop, _ = finding_record(
        kind="collusion", fingerprint="b", user_ids=[other.pk], merchant_id=campaign.merchant_id, **kw
    )
    gone, _ = finding_record(kind="self_referral", fingerprint="c", user_ids=[user.pk], merchant_id=None, **kw)
    Finding.objects.filter(pk=gone.pk).update(status="dismissed")

    assert list(open_findings_for(user_ids=[user.pk])) == [mine]
    assert set(open_findings_for(user_ids=[user.pk], merchant_id=campaign.merchant_id)) == {mine, shop}
    assert list(open_findings_for(user_ids=[])) == []


def test_detect_all_runs_every_detector_and_is_safe_to_run_twice(campaign):
    phone = DeviceFactory()
    inviter = UserFactory()
    invitees = [UserFactory(invited_by=inviter) for _ in range(3)]
    used(phone, *invitees)
    for user in invitees:
        earn(user, campaign=campaign, device=phone)

    first = tasks.detect_all()
    second = tasks.detect_all()

    assert first == second == detect_all()
    assert first["referral_farm"] == 1 and first["packet_farm"] == 1
    assert first["self_referral"] == first["collusion"] == first["circular_flow"] == 0
    assert Finding.objects.count() == 2


def test_beat_runs_detect_all(settings):
    assert settings.CELERY_BEAT_SCHEDULE["antifraud-detect"]["task"] == tasks.detect_all.name
