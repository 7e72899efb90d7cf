"""Every redemption and every rebate gets a verdict; held rebates stay pending, blocked redemptions write nothing."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import DeviceUse
from antifraud.detectors import detect_scripted_trails
from antifraud.models import Finding, ReviewAction, RiskAssessment, RiskPolicy, TrailEvent
from packets.models import Order, Packet
from rebates.models import AccountKind, LedgerAccount, Rebate
from rebates.services import rebate_confirm, rebates_credit_for_redemption
from tests.factories.accounts import DeviceFactory, MerchantStaffFactory, UserFactory
from tests.factories.campaigns import two_way_campaign
from tests.packets.helpers import order_body, post_order

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def campaign(merchant_client):
    campaign = two_way_campaign(merchant=merchant_client.merchant)
    RiskPolicy.objects.create(campaign=campaign, trail_required=True)
    return campaign


def veteran():
    """A shopper whose account is months old, so the new-account signal stays out of the way."""
    return UserFactory(date_joined=timezone.now() - timedelta(days=90))


def earn_packet(client, shopper) -> str:
    return post_order(client, order_body(shopper, "200.00")).json()["earned_packets"][0]["code"]


def report_trail(client, shopper, session_id: str, gaps: list[int], kinds=("browse", "add_to_cart", "checkout")):
    """Report the steps (browse → add to cart → checkout), then age them as if they had been `gaps` seconds apart."""
    events = [{"event_id": f"{session_id}-{k}", "kind": k} for k in kinds]
    body = {"session_id": session_id, "shopper_id": shopper.pk, "events": events}
    assert client.post("/api/v1/trail/events/", body, format="json").status_code == 200
    now = timezone.now()
    offsets = [sum(gaps[i:]) for i in range(len(kinds))]
    for kind, seconds in zip(kinds, offsets, strict=True):
        TrailEvent.objects.filter(event_id=f"{session_id}-{kind}").update(at=now - timedelta(seconds=seconds))


def spend(client, shopper, code: str, **extra):
    response = post_order(client, order_body(shopper, "50.00", packet_code=code, **extra))
    assert response.status_code == 201, response.json()
    order = Order.objects.get(pk=response.json()["id"])
    return order, rebates_credit_for_redemption(redemption_id=order.redemption.pk)


def balance(kind, user) -> Decimal:
    account = LedgerAccount.objects.filter(kind=kind, user=user).first()
    return account.balance if account else D("0.00")


def test_a_redemption_without_a_trail_holds_both_rebates_for_review(merchant_client, campaign):
    shopper = veteran()
    order, rebates = spend(merchant_client, shopper, earn_packet(merchant_client, shopper))

    verdict = RiskAssessment.objects.get(redemption=order.redemption, subject="redemption")
    assert verdict.decision == "review" and [s["code"] for s in verdict.signals] == ["no_trail", "packet_just_earned"]
    assert {(r.role, r.status, r.held_for_review) for r in rebates} == {
        ("holder", "pending", True),
        ("issuer", "pending", True),
    }
    assert balance(AccountKind.SHOPPER_CASH, shopper) == D("0.00")
    assert balance(AccountKind.SHOPPER_CASH_PENDING, shopper) == D("2.50")
    assert all(r.risk_assessment.decision == "review" for r in rebates)
    assert rebate_confirm(rebate_id=rebates[0].pk) is False  # the hold does not end by itself
    call_command("audit")


def test_a_plausible_trail_lets_the_rebates_through(merchant_client, campaign):
    shopper = veteran()
    code = earn_packet(merchant_client, shopper)
    report_trail(merchant_client, shopper, "sess-honest-1", gaps=[41, 17, 63])

    order, rebates = spend(merchant_client, shopper, code, session_id="sess-honest-1")

    assert RiskAssessment.objects.get(redemption=order.redemption, subject="redemption").decision == "allow"
    assert {(r.status, r.held_for_review) for r in rebates} == {("credited", False)}
    assert balance(AccountKind.SHOPPER_CASH, shopper) == D("2.50")
    call_command("audit")


def test_a_trail_too_fast_is_held(merchant_client, campaign):
    shopper = veteran()
    code = earn_packet(merchant_client, shopper)
    report_trail(merchant_client, shopper, "sess-quick-1", gaps=[2, 1, 3])

    order, rebates = spend(merchant_client, shopper, code, session_id="sess-quick-1")

    verdict = RiskAssessment.objects.get(redemption=order.redemption, subject="redemption")
    assert "trail_too_fast" in [s["code"] for s in verdict.signals] and verdict.decision == "review"
    assert all(r.held_for_review for r in rebates)


def replay(client, gaps_by_account: list[list[int]], kinds=("browse", "add_to_cart", "checkout")):
    """One order per fresh account, each after a reported trail with the given gaps; returns the orders."""
    orders = []
    for n, gaps in enumerate(gaps_by_account):
        shopper = veteran()
        code = earn_packet(client, shopper)
        report_trail(client, shopper, f"sess-{n}-{shopper.pk}", gaps=gaps, kinds=kinds)
        order, _ = spend(client, shopper, code, session_id=f"sess-{n}-{shopper.pk}")
        orders.append(order)
    return orders


def redemption_assessments(orders):
    return [RiskAssessment.objects.get(redemption=o.redemption, subject="redemption") for o in orders]


def test_the_same_scripted_trail_across_accounts_is_held_from_the_third(merchant_client, campaign):
    decisions = [a.signals for a in redemption_assessments(replay(merchant_client, [[45, 45, 45]] * 3))]

    assert [[s["code"] for s in d] for d in decisions] == [
        ["packet_just_earned"],
        ["similar_trail", "packet_just_earned"],
        ["scripted_trail", "packet_just_earned"],
    ]


def test_the_scripted_trail_finding_holds_every_leg_of_the_first_replays_too(merchant_client, campaign):
    campaign.hold_days = 7  # a return window: the first replays' rebates are still pending when the detector runs
    campaign.save(update_fields=["hold_days"])
    orders = replay(merchant_client, [[45, 45, 45]] * 3)
    first_two = Rebate.objects.filter(redemption__order__in=orders[:2])
    assert not any(r.held_for_review for r in first_two)  # at checkout they had no (or one) twin

    (finding,) = detect_scripted_trails()

    assert finding.kind == "scripted_trail"
    assert finding.user_ids == sorted(o.shopper_id for o in orders)
    assert finding.evidence["order_ids"] == sorted(o.pk for o in orders)
    legs = Rebate.objects.filter(redemption__order__in=orders)
    assert legs.count() == 6 and all(r.held_for_review and r.status == "pending" for r in legs)
    assert {r.role for r in legs} == {"holder", "issuer"}  # the merchant's legs on the fake orders too
    call_command("audit")


def test_two_accounts_with_the_same_trail_shape_are_no_scripted_trail_finding(merchant_client, campaign):
    replay(merchant_client, [[45, 45, 45], [45, 45, 45], [45, 46, 45]])

    assert detect_scripted_trails() == []


def test_short_trails_of_the_same_shape_are_not_compared_across_accounts(merchant_client, campaign):
    """Two steps (a few hundred shapes) are shared by honest shoppers every day: no twins, no finding."""
    orders = replay(merchant_client, [[45, 45]] * 3, kinds=("browse", "checkout"))

    assert {(a.trail_signature, a.decision) for a in redemption_assessments(orders)} == {("", "allow")}
    assert detect_scripted_trails() == []


def test_a_shopper_sharing_a_device_with_the_merchants_staff_is_held(merchant_client):
    two_way_campaign(merchant=merchant_client.merchant)  # default policy: no trail expected
    staff = MerchantStaffFactory(merchant=merchant_client.merchant).user
    device = DeviceFactory()
    now = timezone.now()
    DeviceUse.objects.create(device=device, user=staff, first_seen=now, last_seen=now)
    shopper = veteran()
    DeviceUse.objects.create(device=device, user=shopper, first_seen=now, last_seen=now)

    order, rebates = spend(merchant_client, shopper, earn_packet(merchant_client, shopper))

    verdict = RiskAssessment.objects.get(redemption=order.redemption, subject="redemption")
    assert [s["code"] for s in verdict.signals][:1] == ["staff_overlap"]
    assert verdict.decision == "review" and all(r.held_for_review for r in rebates)


def test_a_banned_shopper_cannot_spend_a_packet_and_the_attempt_is_kept(merchant_client):
    two_way_campaign(merchant=merchant_client.merchant)
    shopper = veteran()
    code = earn_packet(merchant_client, shopper)
    shopper.is_banned = True
    shopper.save()
    orders_before = Order.objects.count()

    response = post_order(merchant_client, order_body(shopper, "50.00", packet_code=code))

    assert response.status_code == 403
    assert response.json()["code"] == "risk_blocked"
    assert response.json()["details"] == {"reasons": ["The account is banned."]}
    assert Order.objects.count() == orders_before and Packet.objects.get(code=code).status == "issued"
    attempt = RiskAssessment.objects.get(subject="attempt")
    assert attempt.decision == "block" and attempt.user == shopper
    call_command("audit")


def test_a_rebate_is_held_when_its_beneficiary_was_named_in_a_finding_after_the_spend(merchant_client):
    two_way_campaign(merchant=merchant_client.merchant)
    shopper = veteran()
    response = post_order(
        merchant_client, order_body(shopper, "50.00", packet_code=earn_packet(merchant_client, shopper))
    )
    order = Order.objects.get(pk=response.json()["id"])
    Finding.objects.create(kind="packet_farm", fingerprint="f1", user_ids=[shopper.pk], explanation="test")

    rebates = {r.role: r for r in rebates_credit_for_redemption(redemption_id=order.redemption.pk)}

    assert rebates["holder"].held_for_review and rebates["holder"].risk_assessment.decision == "review"
    assert not rebates["issuer"].held_for_review  # the merchant is not named
    call_command("audit")


def collusion_finding(merchant, *colluders):
    return Finding.objects.create(
        kind="collusion",
        fingerprint=f"merchant:{merchant.pk}",
        merchant=merchant,
        user_ids=[u.pk for u in colluders],
        explanation="test",
    )


def test_a_merchants_collusion_finding_holds_the_merchants_leg_but_not_an_unnamed_customers(merchant_client):
    two_way_campaign(merchant=merchant_client.merchant)
    shopper, colluder = veteran(), veteran()
    code = earn_packet(merchant_client, shopper)
    collusion_finding(merchant_client.merchant, colluder)

    order, _ = spend(merchant_client, shopper, code)

    rebates = {r.role: r for r in Rebate.objects.filter(redemption=order.redemption)}
    assert not rebates["holder"].held_for_review and rebates["holder"].risk_assessment.decision == "allow"
    assert rebates["issuer"].held_for_review and rebates["issuer"].risk_assessment.decision == "review"
    assert RiskAssessment.objects.get(redemption=order.redemption, subject="redemption").decision == "allow"
    call_command("audit")


def test_a_shopper_named_in_a_merchants_collusion_finding_is_held_on_both_legs(merchant_client):
    two_way_campaign(merchant=merchant_client.merchant)
    colluder = veteran()
    code = earn_packet(merchant_client, colluder)
    collusion_finding(merchant_client.merchant, colluder)

    order, _ = spend(merchant_client, colluder, code)

    assert all(r.held_for_review for r in Rebate.objects.filter(redemption=order.redemption))
    call_command("audit")


def test_a_finding_listing_the_order_before_the_worker_ran_holds_every_leg(merchant_client):
    two_way_campaign(merchant=merchant_client.merchant)
    shopper = veteran()
    response = post_order(
        merchant_client, order_body(shopper, "50.00", packet_code=earn_packet(merchant_client, shopper))
    )
    order = Order.objects.get(pk=response.json()["id"])
    Finding.objects.create(
        kind="scripted_trail",
        fingerprint="trail:x",
        user_ids=[],
        explanation="test",
        evidence={"order_ids": [order.pk]},
    )

    rebates = rebates_credit_for_redemption(redemption_id=order.redemption.pk)

    assert {(r.role, r.held_for_review) for r in rebates} == {("holder", True), ("issuer", True)}
    call_command("audit")


def test_every_rebate_has_an_assessment(merchant_client):
    two_way_campaign(merchant=merchant_client.merchant)
    shopper = veteran()
    _, rebates = spend(merchant_client, shopper, earn_packet(merchant_client, shopper))

    assert RiskAssessment.objects.filter(subject="rebate").count() == len(rebates) == 2
    assert Rebate.objects.filter(risk_assessment__isnull=True).count() == 0


def test_a_rebate_whose_beneficiary_was_banned_after_the_spend_is_blocked_and_reversed(merchant_client):
    campaign = two_way_campaign(merchant=merchant_client.merchant)
    shopper = veteran()
    response = post_order(
        merchant_client, order_body(shopper, "50.00", packet_code=earn_packet(merchant_client, shopper))
    )
    order = Order.objects.get(pk=response.json()["id"])
    shopper.is_banned = True
    shopper.save()
    budget_before = LedgerAccount.objects.get(kind=AccountKind.CAMPAIGN_BUDGET, campaign=campaign, shard=0).balance

    rebates_credit_for_redemption(redemption_id=order.redemption.pk)

    holder = Rebate.objects.get(redemption=order.redemption, role="holder")
    issuer = Rebate.objects.get(redemption=order.redemption, role="issuer")
    assert holder.status == "reversed" and holder.risk_assessment.decision == "block"
    assert issuer.status == "credited"
    assert balance(AccountKind.SHOPPER_CASH_PENDING, shopper) == balance(AccountKind.SHOPPER_CASH, shopper) == 0
    budget = LedgerAccount.objects.get(kind=AccountKind.CAMPAIGN_BUDGET, campaign=campaign, shard=0).balance
    assert budget == budget_before + D("2.50")  # the blocked rebate's value went back to the campaign
    action = ReviewAction.objects.get(target=f"rebate:{holder.pk}")
    assert (action.action, action.actor) == ("reject", None)
    call_command("audit")
