"""The review queue: held rebates released or rejected, credited rebates revoked, packets revoked, findings decided —
each through the ledger, each recorded with who and why, each idempotent; and the operators' console around it."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from antifraud import services
from antifraud.errors import PacketNotRevocable, ReasonRequired
from antifraud.models import ReviewAction, RiskAssessment
from antifraud.selectors import review_queue
from campaigns.models import Campaign
from campaigns.selectors import campaign_budget_account, campaign_outstanding_account
from packets.models import Packet
from rebates.ledger import ledger_account, platform_account, transfer
from rebates.models import AccountKind, Rebate
from rebates.services import rebates_confirm_due
from tests.factories.accounts import DeviceFactory, MerchantStaffFactory, UserFactory
from tests.factories.antifraud import FindingFactory, RiskPolicyFactory, platform_operator
from tests.factories.campaigns import two_way_campaign
from tests.rebates.test_lifecycle import balance, credit, spent_order

D = Decimal
QUEUE = "/admin/antifraud/heldrebate/"

pytestmark = pytest.mark.django_db


def campaign_with(*, hold_days=7, policy=None, **rules) -> Campaign:
    """The seed's campaign (holder 5 % of 50.00 = 2.50), rebates held `hold_days`. The risk policy only records
    (unless given), so a test decides itself which rebates are held for review."""
    campaign = two_way_campaign(**rules)
    Campaign.objects.filter(pk=campaign.pk).update(hold_days=hold_days)
    RiskPolicyFactory(campaign=campaign, trail_required=False, **(policy or {}))
    return campaign


def held_rebate(campaign, shopper, *, hold_over=False) -> Rebate:
    """The shopper's rebate, pending and held for review (as the risk hook holds a "review" decision)."""
    holder = credit(spent_order(campaign, shopper))["holder"]
    assert holder.status == Rebate.Status.PENDING
    changes = {"held_for_review": True}
    if hold_over:
        changes["hold_until"] = timezone.now() - timedelta(minutes=1)
    Rebate.objects.filter(pk=holder.pk).update(**changes)
    return Rebate.objects.get(pk=holder.pk)


@pytest.fixture
def operator():
    return platform_operator()


# --- release ---------------------------------------------------------------------------------------------------------


def test_release_after_the_holding_period_credits_the_rebate_from_pending_to_available(operator):
    campaign, shopper = campaign_with(), UserFactory()
    rebate = held_rebate(campaign, shopper, hold_over=True)
    assert balance(AccountKind.SHOPPER_CASH_PENDING, user=shopper) == D("2.50")

    assert services.rebate_release(rebate_id=rebate.pk, actor=operator, reason="Real shopper, trail checked by phone")

    rebate.refresh_from_db()
    assert (rebate.status, rebate.held_for_review) == ("credited", False)
    assert balance(AccountKind.SHOPPER_CASH_PENDING, user=shopper) == D("0.00")
    assert balance(AccountKind.SHOPPER_CASH, user=shopper) == D("2.50")
    call_command("audit")


def test_release_during_the_holding_period_leaves_it_to_the_hold(operator):
    campaign, shopper = campaign_with(hold_days=7), UserFactory()
    rebate = held_rebate(campaign, shopper)

    services.rebate_release(rebate_id=rebate.pk, actor=operator, reason="fine")

    rebate.refresh_from_db()
    assert (rebate.status, rebate.held_for_review) == ("pending", False)
    assert rebates_confirm_due(now=timezone.now() + timedelta(days=8)) == 2  # holder and the merchant's issuer leg
    assert balance(AccountKind.SHOPPER_CASH, user=shopper) == D("2.50")
    call_command("audit")


def test_releasing_a_released_rebate_does_nothing_and_records_nothing(operator):
    rebate = held_rebate(campaign_with(), UserFactory(), hold_over=True)
    assert services.rebate_release(rebate_id=rebate.pk, actor=operator, reason="ok")
    assert not services.rebate_release(rebate_id=rebate.pk, actor=operator, reason="ok again")
    assert ReviewAction.objects.filter(action="release", target=f"rebate:{rebate.pk}").count() == 1
    call_command("audit")


def test_a_held_coupon_gets_its_coupon_packet_when_released(operator):
    campaign = campaign_with(hold_days=0, policy={"action": "hold", "review_score": 0}, holder_form="coupon")
    shopper = UserFactory()
    holder = credit(spent_order(campaign, shopper))["holder"]
    assert (holder.status, holder.held_for_review, holder.coupon_id) == ("pending", True, None)
    outstanding = campaign_outstanding_account(campaign).balance

    services.rebate_release(rebate_id=holder.pk, actor=operator, reason="checked")

    holder.refresh_from_db()
    assert holder.status == "credited"
    coupon = holder.coupon
    assert (coupon.holder, coupon.amount, coupon.status, coupon.channel) == (shopper, D("2.50"), "issued", "rebate")
    assert campaign_outstanding_account(campaign).balance == outstanding  # its value was waiting there already
    call_command("audit")


# --- reject and revoke -----------------------------------------------------------------------------------------------


def test_reject_voids_a_held_rebate_back_to_the_campaign_budget(operator):
    campaign, shopper = campaign_with(), UserFactory()
    rebate = held_rebate(campaign, shopper)
    budget = campaign_budget_account(campaign).balance

    assert services.rebate_reject(rebate_id=rebate.pk, actor=operator, reason="Fake order: no trail, shared device")

    rebate.refresh_from_db()
    assert (rebate.status, rebate.reversed_amount) == ("reversed", D("2.50"))
    assert not review_queue().filter(pk=rebate.pk).exists()
    assert balance(AccountKind.SHOPPER_CASH_PENDING, user=shopper) == D("0.00")
    assert balance(AccountKind.SHOPPER_CASH, user=shopper) == D("0.00")
    assert campaign_budget_account(campaign).balance == budget + D("2.50")
    assert rebates_confirm_due(now=timezone.now() + timedelta(days=8)) == 1  # only the merchant's leg
    call_command("audit")


def test_rejecting_twice_moves_money_once_and_records_once(operator):
    campaign, shopper = campaign_with(), UserFactory()
    rebate = held_rebate(campaign, shopper)
    services.rebate_reject(rebate_id=rebate.pk, actor=operator, reason="fraud")
    budget = campaign_budget_account(campaign).balance
    assert not services.rebate_reject(rebate_id=rebate.pk, actor=operator, reason="fraud again")
    assert campaign_budget_account(campaign).balance == budget
    assert ReviewAction.objects.filter(action="reject").count() == 1
    call_command("audit")


def race(*works) -> list[Exception]:
    """Run the callables at the same moment, each on its own connection; the errors they raised."""
    import threading

    from django.db import connections

    start, errors = threading.Barrier(len(works)), []

    def run(work):
        start.wait()
        try:
            work()
        except Exception as exc:  # reported to the caller
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(work,)) for work in works]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


@pytest.mark.django_db(transaction=True)
def test_a_rejection_racing_a_partial_refund_takes_the_value_back_exactly_once():
    from packets.services import order_refund

    campaign, shopper = campaign_with(), UserFactory()
    rebate, reviewer = held_rebate(campaign, shopper), platform_operator()

    errors = race(
        lambda: services.rebate_reject(rebate_id=rebate.pk, actor=reviewer, reason="fake"),
        lambda: order_refund(order=rebate.redemption.order, amount=D("20.00")),
    )

    assert errors == [], [str(e) for e in errors]
    rebate.refresh_from_db()
    assert (rebate.status, rebate.reversed_amount) == ("reversed", D("2.50"))
    assert balance(AccountKind.SHOPPER_CASH_PENDING, user=shopper) == D("0.00")
    call_command("audit")


@pytest.mark.django_db(transaction=True)
def test_a_release_racing_a_partial_refund_pays_only_the_unrefunded_share():
    from packets.services import order_refund

    campaign, shopper = campaign_with(), UserFactory()
    rebate, reviewer = held_rebate(campaign, shopper, hold_over=True), platform_operator()

    errors = race(
        lambda: services.rebate_release(rebate_id=rebate.pk, actor=reviewer, reason="genuine"),
        lambda: order_refund(order=rebate.redemption.order, amount=D("20.00")),  # 40 % of the order: 1.00 back
    )

    assert errors == [], [str(e) for e in errors]
    rebate.refresh_from_db()
    assert (rebate.status, rebate.reversed_amount, rebate.held_for_review) == ("credited", D("1.00"), False)
    assert balance(AccountKind.SHOPPER_CASH, user=shopper) == D("1.50")
    assert balance(AccountKind.SHOPPER_CASH_PENDING, user=shopper) == D("0.00")
    call_command("audit")


def test_a_block_decision_is_rejected_by_the_system_without_an_actor():
    rebate = held_rebate(campaign_with(), UserFactory())
    assert services.rebate_reject(rebate_id=rebate.pk, actor=None, reason="")
    action = ReviewAction.objects.get(action="reject")
    assert (action.actor, action.target) == (None, f"rebate:{rebate.pk}")
    call_command("audit")


def test_a_held_coupon_rejected_returns_from_the_outstanding_packets_to_the_budget(operator):
    campaign = campaign_with(hold_days=0, policy={"action": "hold", "review_score": 0}, holder_form="coupon")
    holder = credit(spent_order(campaign, UserFactory()))["holder"]
    outstanding, budget = campaign_outstanding_account(campaign).balance, campaign_budget_account(campaign).balance

    services.rebate_reject(rebate_id=holder.pk, actor=operator, reason="farmed")

    holder.refresh_from_db()
    assert (holder.status, holder.coupon_id) == ("reversed", None)
    assert campaign_outstanding_account(campaign).balance == outstanding - D("2.50")
    assert campaign_budget_account(campaign).balance == budget + D("2.50")
    # The merchant's leg was held too: reject it as well, so the pending books match what is pending.
    services.rebate_reject(rebate_id=Rebate.objects.get(role="issuer").pk, actor=operator, reason="farmed")
    call_command("audit")


def test_revoking_a_credited_rebate_after_a_withdrawal_leaves_the_rest_as_debt(operator):
    campaign, shopper = campaign_with(hold_days=0), UserFactory()
    rebate = credit(spent_order(campaign, shopper))["holder"]
    assert rebate.status == "credited"
    transfer(  # the shopper withdrew 2.00 of the 2.50 already
        source=ledger_account(kind=AccountKind.SHOPPER_CASH, user_id=shopper.pk),
        destination=platform_account(AccountKind.PLATFORM_EXTERNAL),
        amount=D("2.00"),
        kind="withdrawal",
        idempotency_key="w-revoke",
        reference="test",
    )
    budget = campaign_budget_account(campaign).balance

    services.rebate_reject(rebate_id=rebate.pk, actor=operator, reason="Confirmed collusion")

    rebate.refresh_from_db()
    assert rebate.status == "reversed"
    assert balance(AccountKind.SHOPPER_CASH, user=shopper) == D("0.00")
    assert balance(AccountKind.SHOPPER_DEBT, user=shopper) == D("-2.00")
    assert campaign_budget_account(campaign).balance == budget + D("2.50")
    call_command("audit")


def test_an_operator_decision_without_a_reason_is_refused(operator):
    rebate = held_rebate(campaign_with(), UserFactory())
    with pytest.raises(ReasonRequired):
        services.rebate_reject(rebate_id=rebate.pk, actor=operator, reason="  ")
    assert Rebate.objects.get(pk=rebate.pk).status == "pending"


def test_review_actions_record_the_actor_and_the_reason(operator):
    campaign = campaign_with()
    first, second = held_rebate(campaign, UserFactory()), held_rebate(campaign, UserFactory())
    services.rebate_release(rebate_id=first.pk, actor=operator, reason="genuine")
    services.rebate_reject(rebate_id=second.pk, actor=operator, reason="fake order")
    trail = list(ReviewAction.objects.order_by("pk").values_list("action", "actor", "target", "reason"))
    assert trail == [
        ("release", operator.pk, f"rebate:{first.pk}", "genuine"),
        ("reject", operator.pk, f"rebate:{second.pk}", "fake order"),
    ]


# --- packets ---------------------------------------------------------------------------------------------------------


def earned_packet(campaign, shopper) -> Packet:
    from tests.campaigns.test_rules_in_orders import buy

    return buy(campaign.merchant, shopper, ("fruit", "200.00")).earned_packets.get()


def test_revoking_an_unused_packet_returns_its_value_to_the_budget(operator):
    campaign = campaign_with(hold_days=0)
    packet = earned_packet(campaign, UserFactory())
    outstanding, budget = campaign_outstanding_account(campaign).balance, campaign_budget_account(campaign).balance

    assert services.packet_revoke(packet_id=packet.pk, actor=operator, reason="farmed with 5 accounts")
    assert not services.packet_revoke(packet_id=packet.pk, actor=operator, reason="again")

    packet.refresh_from_db()
    assert packet.status == "revoked"
    assert campaign_outstanding_account(campaign).balance == outstanding - D("10.00")
    assert campaign_budget_account(campaign).balance == budget + D("10.00")
    assert ReviewAction.objects.filter(action="revoke_packet", target=f"packet:{packet.pk}").count() == 1
    call_command("audit")


def test_a_used_packet_cannot_be_revoked(operator):
    campaign, shopper = campaign_with(hold_days=0), UserFactory()
    order = spent_order(campaign, shopper)
    credit(order)
    with pytest.raises(PacketNotRevocable):
        services.packet_revoke(packet_id=order.packet_id, actor=operator, reason="too late")
    call_command("audit")


def test_revoking_a_rebate_coupon_reverses_its_rebate(operator):
    campaign = campaign_with(hold_days=0, holder_form="coupon")
    holder = credit(spent_order(campaign, UserFactory()))["holder"]
    assert holder.coupon_id

    services.packet_revoke(packet_id=holder.coupon_id, actor=operator, reason="coupon farmed")

    holder.refresh_from_db()
    assert (holder.status, holder.coupon.status) == ("reversed", "revoked")
    call_command("audit")


# --- findings --------------------------------------------------------------------------------------------------------


def test_confirming_a_finding_rejects_the_held_rebates_of_its_accounts_and_bans_them(operator):
    campaign = campaign_with()
    farmer, bystander = UserFactory(), UserFactory()
    farmed, innocent = held_rebate(campaign, farmer), held_rebate(campaign, bystander)
    finding = FindingFactory(user_ids=[farmer.pk])

    assert services.finding_confirm(finding_id=finding.pk, actor=operator, reason="same device, 5 accounts", ban=True)

    assert Rebate.objects.get(pk=farmed.pk).status == "reversed"
    assert Rebate.objects.get(pk=innocent.pk).status == "pending"
    farmer.refresh_from_db()
    finding.refresh_from_db()
    assert (farmer.is_banned, finding.status, finding.reviewed_by) == (True, "confirmed", operator)
    call_command("audit")


def test_dismissing_a_finding_releases_only_what_it_alone_held(operator):
    campaign = campaign_with()
    shopper = UserFactory()
    by_finding, also_banned = held_rebate(campaign, shopper), held_rebate(campaign, shopper)
    finding = FindingFactory(user_ids=[shopper.pk])
    hold = ReviewAction.Action.HOLD
    ReviewAction.objects.create(action=hold, target=f"rebate:{by_finding.pk}", reason=f"finding #{finding.pk}: farm")
    ReviewAction.objects.create(action=hold, target=f"rebate:{also_banned.pk}", reason=f"finding #{finding.pk}: farm")
    ReviewAction.objects.create(action=hold, target=f"rebate:{also_banned.pk}", reason="account banned: chargebacks")

    services.finding_dismiss(finding_id=finding.pk, actor=operator, reason="a family sharing one tablet")

    assert Rebate.objects.get(pk=by_finding.pk).held_for_review is False
    assert Rebate.objects.get(pk=also_banned.pk).held_for_review is True
    call_command("audit")


# --- the console -----------------------------------------------------------------------------------------------------


def test_merchant_staff_cannot_reach_the_review_queue(client):
    staff = MerchantStaffFactory(user__is_staff=True).user
    client.force_login(staff)
    assert client.get(QUEUE).status_code == 403
    assert client.get("/admin/antifraud/finding/").status_code == 403
    assert "antifraud" not in client.get("/admin/").content.decode()


def test_shoppers_are_sent_to_the_admin_login(client):
    client.force_login(UserFactory())
    assert client.get(QUEUE).status_code == 302


def test_the_queue_lists_held_rebates_with_score_and_signals_in_plain_words(client, operator):
    rebate = held_rebate(campaign_with(), UserFactory())
    RiskAssessment.objects.update_or_create(
        rebate=rebate,
        defaults={
            "subject": "rebate",
            "score": 55,
            "decision": "review",
            "signals": [{"code": "no_trail", "weight": 55, "params": {}, "detail": "No shopping trail."}],
        },
    )
    client.force_login(operator)
    html = client.get(QUEUE).content.decode()
    assert f">{rebate.pk}<" in html
    assert "55" in html
    assert "No shopping trail before the order" in html


def test_releasing_from_the_queue_asks_for_a_reason_first(client, operator):
    rebate = held_rebate(campaign_with(), UserFactory(), hold_over=True)
    client.force_login(operator)
    form = {"action": "release_rebates", "_selected_action": [rebate.pk]}

    page = client.post(QUEUE, form)
    assert page.status_code == 200 and 'name="reason"' in page.content.decode()
    assert client.post(QUEUE, {**form, "apply": "1", "reason": ""}).status_code == 200  # reason missing: asked again
    assert Rebate.objects.get(pk=rebate.pk).held_for_review

    client.post(QUEUE, {**form, "apply": "1", "reason": "genuine purchase"})
    assert Rebate.objects.get(pk=rebate.pk).status == "credited"
    assert ReviewAction.objects.get(action="release").reason == "genuine purchase"
    call_command("audit")


def test_the_evidence_page_shows_the_order_devices_and_their_other_accounts(client, operator):
    from accounts.models import DeviceUse
    from packets.models import Order

    shopper, twin = UserFactory(), UserFactory(phone="13912345678")
    rebate = held_rebate(campaign_with(), shopper)
    device = DeviceFactory(fingerprint="web:shared-tablet")
    Order.objects.filter(pk=rebate.redemption.order_id).update(device=device, ip="203.0.113.9")
    now = timezone.now()
    for user in (shopper, twin):
        DeviceUse.objects.create(device=device, user=user, first_seen=now, last_seen=now)
    finding = FindingFactory(user_ids=[shopper.pk, twin.pk], explanation="Two accounts on one tablet.")
    client.force_login(operator)

    html = client.get(f"{QUEUE}{rebate.pk}/change/").content.decode()

    for expected in (rebate.redemption.order.order_no, "web:shared-tablet", "13912345678", "203.0.113.9"):
        assert expected in html
    assert "Two accounts on one tablet." in html and f"/admin/antifraud/finding/{finding.pk}/" in html
    assert 'value="release_rebates"' in html and 'value="reject_rebates"' in html


def test_findings_are_confirmed_from_the_admin_with_a_reason_and_the_ban_box(client, operator):
    farmer = UserFactory()
    finding = FindingFactory(user_ids=[farmer.pk])
    client.force_login(operator)
    client.post(
        "/admin/antifraud/finding/",
        {
            "action": "confirm_findings",
            "_selected_action": [finding.pk],
            "apply": "1",
            "reason": "farm",
            "ban": "on",
        },
    )
    farmer.refresh_from_db()
    assert farmer.is_banned
    assert set(ReviewAction.objects.values_list("action", flat=True)) == {"confirm_finding", "ban_user"}


def test_a_held_coupon_refunded_before_review_returns_its_value_from_the_outstanding_packets(operator):
    from packets.services import order_refund

    campaign = campaign_with(hold_days=0, policy={"action": "hold", "review_score": 0}, holder_form="coupon")
    order = spent_order(campaign, UserFactory())
    holder = credit(order)["holder"]
    outstanding = campaign_outstanding_account(campaign).balance

    order_refund(order=order, amount=D("50.00"))

    holder.refresh_from_db()
    assert (holder.status, holder.reversed_amount, holder.coupon_id) == ("reversed", D("2.50"), None)
    assert campaign_outstanding_account(campaign).balance == outstanding - D("2.50") + D("10.00")  # + the packet back
    assert not services.rebate_release(rebate_id=holder.pk, actor=operator, reason="nothing left to pay")
    call_command("audit")


def test_every_console_page_opens_for_an_operator(client, operator):
    rebate = held_rebate(campaign_with(), UserFactory())
    FindingFactory(user_ids=[rebate.beneficiary_user_id])
    services.appeal_submit(user=rebate.beneficiary_user, text="hello", contact="")
    client.force_login(operator)
    for model in (
        "heldrebate",
        "riskassessment",
        "finding",
        "appeal",
        "listentry",
        "riskpolicy",
        "campaignapproval",
        "reviewaction",
    ):
        assert client.get(f"/admin/antifraud/{model}/").status_code == 200, model
    assert client.get(f"{QUEUE}?state=all").status_code == 200
    assert client.get("/admin/antifraud/listentry/add/").status_code == 200
    assert client.get(f"/admin/campaigns/campaign/{rebate.redemption.packet.campaign_id}/change/").status_code == 200
