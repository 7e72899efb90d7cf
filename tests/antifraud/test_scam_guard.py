"""The scam guard: a campaign shaped like a pyramid (發紅包雙倍返) goes live only once an operator approves it; an
ordinary one goes live at once. The signals themselves are a pure function, tested on shapes."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from antifraud import services
from antifraud.errors import CampaignNeedsApproval
from antifraud.models import CampaignApproval, ReviewAction
from antifraud.scam import Leg, Packet, Shape, Thresholds, scam_signals
from campaigns.models import Campaign, EarnRule, MultiplierWindow, RebateRule, ReferralProgram
from campaigns.services import campaign_change_status, campaign_set_status
from tests.factories.accounts import MerchantStaffFactory
from tests.factories.antifraud import platform_operator
from tests.factories.campaigns import CampaignFactory

D = Decimal
SEED = Shape(packets=(Packet(D("10.00"), D("50.00")),), issuer=Leg(rate=D("10")), holder=Leg(rate=D("5")))


def codes(shape: Shape) -> list[str]:
    return [s.code for s in scam_signals(shape, Thresholds())]


# --- the pure signals ------------------------------------------------------------------------------------------------


def test_the_seed_campaign_raises_nothing():
    assert codes(SEED) == []


def test_a_sender_promised_double_the_packet_back_is_flagged_and_explained():
    shape = Shape(packets=(Packet(D("10.00"), D("100.00")),), issuer=Leg(mode="fixed", fixed=D("20.00")))
    (signal,) = scam_signals(shape)  # 20.00 on a 100.00 order is also 20 % of it: under the returns threshold
    assert signal.code == "sender_paid_back"
    assert dict(signal.params) == {"packet": "10", "back": "20", "percent": "200"}
    assert "10 packet is promised 20 back — 200% of the packet" in signal.describe()


def test_an_issuer_rate_is_commerce_until_it_reaches_half_the_order():
    # 20 % of a 50.00 minimum spend pays the whole 10.00 packet back, but only as the order grows: not flagged.
    assert codes(Shape(packets=(Packet(D("10.00"), D("50.00")),), issuer=Leg(rate=D("20")))) == []
    assert codes(Shape(packets=SEED.packets, issuer=Leg(rate=D("50")))) == ["issuer_rate_high", "returns_high"]


def test_a_capped_issuer_leg_is_not_flagged():
    shape = Shape(packets=(Packet(D("10.00"), D("100.00")),), issuer=Leg(mode="fixed", fixed=D("20.00"), cap=D("5")))
    assert codes(shape) == []


def test_returns_above_thirty_percent_of_the_order_are_flagged():
    shape = Shape(packets=(Packet(D("10.00"), D("100.00")),), issuer=Leg(rate=D("15")), holder=Leg(rate=D("16")))
    assert codes(shape) == ["returns_high"]


def test_a_double_rebate_day_is_ordinary_and_three_times_is_flagged():
    doubled = Shape(packets=SEED.packets, issuer=Leg(rate=D("10")), holder=Leg(rate=D("10")), multipliers=(D("2"),))
    assert codes(doubled) == []
    tripled = Shape(packets=SEED.packets, holder=Leg(rate=D("1")), multipliers=(D("3"),))
    assert codes(tripled) == ["multiplier_high"]


def test_a_double_window_on_a_fixed_return_of_half_the_packet_is_double_back():
    shape = Shape(packets=(Packet(D("10.00"), D("100.00")),), issuer=Leg(mode="fixed", fixed=D("5")))
    assert codes(shape) == []
    assert codes(Shape(**{**shape.__dict__, "multipliers": (D("2"),)})) == ["sender_paid_back"]


def test_a_referral_program_paying_above_twenty_percent_is_flagged():
    assert codes(Shape(packets=SEED.packets, referral_rate=D("20"))) == []
    assert codes(Shape(packets=SEED.packets, referral_rate=D("25"))) == ["referral_high"]


def test_thresholds_come_from_the_settings(settings):
    settings.ANTIFRAUD_SCAM_TOTAL_PERCENT = "10"
    assert [s.code for s in scam_signals(SEED, Thresholds.from_settings())] == ["returns_high"]


# --- the gate --------------------------------------------------------------------------------------------------------


def draft(*, issuer_fixed=None, **rule) -> Campaign:
    campaign = CampaignFactory(status=Campaign.Status.DRAFT)
    EarnRule.objects.create(
        campaign=campaign, threshold_amount=D("0"), packet_amount=D("10.00"), min_spend=D("0"), trigger="purchase"
    )
    if issuer_fixed is not None:
        rule.update(issuer_mode="fixed", issuer_fixed=issuer_fixed)
    RebateRule.objects.create(campaign=campaign, **{"issuer_rate": D("10"), "holder_rate": D("5"), **rule})
    return campaign


def double_return() -> Campaign:
    """發紅包雙倍返: send a 10.00 packet, get 20.00 back."""
    return draft(issuer_fixed=D("20.00"))


@pytest.fixture
def operator(db):
    return platform_operator()


@pytest.mark.django_db
def test_a_double_return_campaign_is_refused_going_live_and_waits_for_approval(operator):
    campaign = double_return()
    manager = MerchantStaffFactory(merchant=campaign.merchant).user

    with pytest.raises(CampaignNeedsApproval) as refused:
        campaign_change_status(user=manager, campaign=campaign, status=Campaign.Status.ACTIVE)

    assert refused.value.status_code == 409
    assert refused.value.details["signals"] == ["sender_paid_back", "returns_high"]
    assert "200% of the packet" in refused.value.details["reasons"][0]
    campaign.refresh_from_db()
    assert campaign.status == "draft"
    approval = CampaignApproval.objects.get(campaign=campaign)  # kept for the operators, though activation failed
    assert (approval.status, approval.signals[0]["code"]) == ("required", "sender_paid_back")


@pytest.mark.django_db
def test_once_approved_the_campaign_goes_live_and_the_approval_is_recorded(operator):
    campaign = double_return()
    with pytest.raises(CampaignNeedsApproval):
        campaign_set_status(campaign=campaign, status=Campaign.Status.ACTIVE)
    with pytest.raises(CampaignNeedsApproval):  # asking again does not approve anything
        campaign_change_status(user=operator, campaign=campaign, status=Campaign.Status.ACTIVE)
    approval = CampaignApproval.objects.get(campaign=campaign)

    assert services.campaign_approval_decide(
        approval_id=approval.pk, actor=operator, approve=True, note="A charity match campaign, capped by its budget"
    )

    assert campaign_set_status(campaign=campaign, status=Campaign.Status.ACTIVE).status == "active"
    action = ReviewAction.objects.get()
    assert (action.action, action.actor, action.target) == ("approve_campaign", operator, f"campaign:{campaign.pk}")


@pytest.mark.django_db
def test_an_approval_covers_the_shape_it_approved_not_a_bigger_one(operator):
    campaign = double_return()
    with pytest.raises(CampaignNeedsApproval):
        campaign_change_status(user=operator, campaign=campaign, status=Campaign.Status.ACTIVE)
    approval = CampaignApproval.objects.get(campaign=campaign)
    services.campaign_approval_decide(approval_id=approval.pk, actor=operator, approve=True, note="ok at 20")
    RebateRule.objects.filter(campaign=campaign).update(issuer_fixed=D("50.00"))

    with pytest.raises(CampaignNeedsApproval):
        campaign_change_status(user=operator, campaign=campaign, status=Campaign.Status.ACTIVE)
    assert CampaignApproval.objects.get(campaign=campaign).status == "required"


@pytest.mark.django_db
def test_a_refused_campaign_stays_refused_with_the_operators_note(operator):
    campaign = double_return()
    with pytest.raises(CampaignNeedsApproval):
        campaign_change_status(user=operator, campaign=campaign, status=Campaign.Status.ACTIVE)
    approval = CampaignApproval.objects.get(campaign=campaign)
    services.campaign_approval_decide(approval_id=approval.pk, actor=operator, approve=False, note="a pyramid")
    with pytest.raises(CampaignNeedsApproval) as refused:
        campaign_change_status(user=operator, campaign=campaign, status=Campaign.Status.ACTIVE)
    assert "a pyramid" in refused.value.message
    assert refused.value.details["approval"] == "refused"


@pytest.mark.django_db
def test_an_ordinary_campaign_goes_live_without_approval():
    campaign = draft()
    assert campaign_set_status(campaign=campaign, status=Campaign.Status.ACTIVE).status == "active"
    assert not CampaignApproval.objects.exists()


@pytest.mark.django_db
def test_multiplier_windows_and_referral_programs_are_read_from_the_campaign():
    campaign = draft()
    now = timezone.now()
    MultiplierWindow.objects.create(campaign=campaign, starts_at=now, ends_at=now + timedelta(days=1), factor=D("5"))
    ReferralProgram.objects.create(campaign=campaign, inviter_rate=D("30"))
    with pytest.raises(CampaignNeedsApproval) as refused:
        campaign_set_status(campaign=campaign, status=Campaign.Status.ACTIVE)
    assert refused.value.details["signals"] == ["referral_high", "multiplier_high"]


@pytest.mark.django_db
def test_the_status_api_answers_409_campaign_needs_approval_with_the_reasons():
    campaign = double_return()
    staff = MerchantStaffFactory(merchant=campaign.merchant)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff.user).key}")

    reply = client.post(f"/api/v1/campaigns/{campaign.pk}/status/", {"status": "active"}, format="json")

    assert reply.status_code == 409
    body = reply.json()
    assert body["code"] == "campaign_needs_approval"
    assert "approval" in body["message"]
    assert body["details"]["signals"][0] == "sender_paid_back"
    assert "send a red packet, get double back" in body["details"]["reasons"][0]
    assert CampaignApproval.objects.filter(campaign=campaign, status="required").exists()


@pytest.mark.django_db
def test_operators_approve_in_the_admin_with_a_note(client, operator):
    campaign = double_return()
    with pytest.raises(CampaignNeedsApproval):
        campaign_change_status(user=operator, campaign=campaign, status=Campaign.Status.ACTIVE)
    approval = CampaignApproval.objects.get()
    client.force_login(operator)
    listing = client.get("/admin/antifraud/campaignapproval/").content.decode()
    assert "200% of the packet" in listing

    client.post(
        "/admin/antifraud/campaignapproval/",
        {"action": "approve_campaigns", "_selected_action": [approval.pk], "apply": "1", "reason": "checked"},
    )

    approval.refresh_from_db()
    assert (approval.status, approval.decided_by, approval.note) == ("approved", operator, "checked")
    campaign_change_status(user=operator, campaign=campaign, status=Campaign.Status.ACTIVE)
    assert Campaign.objects.get(pk=campaign.pk).status == "active"
