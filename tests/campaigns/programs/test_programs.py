"""Referral rebates (雙倍返利), milestone rebates (紅包反向系統) and trial feedback rewards (新品試用): each effect
exactly once, through the ledger, with the books clean after every money test."""

import threading
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connections, transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

import campaigns.programs.admin  # noqa: F401 — registers the program admins
from campaigns.models import (
    Campaign,
    EarnRule,
    Enrolment,
    Feedback,
    MilestoneProgram,
    MultiplierWindow,
    ReferralProgram,
    ReferralReward,
    TrialAttribution,
    TrialProgram,
)
from campaigns.programs import (
    TOPIC_ORDER_PROGRAMS,
    enrolments_expire_due,
    feedback_auto_grade,
    feedback_grade,
    order_needs_programs,
    programs_audit,
    programs_for_order,
    referral_amount,
    referral_reward_for_order,
    referral_rewards_confirm_due,
    trial_attribution_for_order,
)
from campaigns.rules import Multiplier
from campaigns.selectors import campaign_budget_account, campaign_reserve_account
from campaigns.services import campaign_fund, platform_pool_fund
from packets.services import packet_grant
from rebates.models import AccountKind, LedgerAccount, LedgerTransaction, OutboxEvent
from rebates.services import rebates_credit_for_redemption
from tests.campaigns.test_rules_in_orders import buy
from tests.factories.accounts import MerchantFactory, MerchantStaffFactory, UserFactory
from tests.factories.campaigns import CampaignFactory, two_way_campaign

D = Decimal


def audit():
    """What the worker does for every order a program may pay on, then the audit — as after a real run."""
    for order_id in OutboxEvent.objects.filter(topic=TOPIC_ORDER_PROGRAMS, done_at__isnull=True).values_list(
        "ref_id", flat=True
    ):
        programs_for_order(order_id=order_id)
    call_command("audit")


def balance(kind, currency="CNY", **owner) -> Decimal:
    account = LedgerAccount.objects.filter(kind=kind, currency=currency, **owner).first()
    return account.balance if account else D("0.00")


def books_clean():
    audit()
    assert programs_audit() == []


# --- referral rebates (雙倍返利) --------------------


def referral_setup(*, rate="10.00", window_days=30, hold_days=0, joined_days_ago=1):
    campaign = two_way_campaign(budget="1000.00")
    Campaign.objects.filter(pk=campaign.pk).update(hold_days=hold_days)
    ReferralProgram.objects.create(campaign=campaign, inviter_rate=D(rate), window_days=window_days)
    inviter = UserFactory()
    invitee = UserFactory(invited_by=inviter, date_joined=timezone.now() - timedelta(days=joined_days_ago))
    return campaign, inviter, invitee


def double_window(campaign):
    now = timezone.now()
    MultiplierWindow.objects.create(
        campaign=campaign, starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1), factor=D("2.00")
    )


def test_referral_amount_is_rate_of_gross_times_the_covering_window():
    now = timezone.now()
    window = Multiplier(now - timedelta(hours=1), now + timedelta(hours=1), D("2.00"))
    assert referral_amount(gross=D("10.00"), rate=D("10"), multipliers=(), at=now) == (D("1.00"), D("1"))
    assert referral_amount(gross=D("10.00"), rate=D("10"), multipliers=(window,), at=now)[0] == D("2.00")
    assert referral_amount(gross=D("10.00"), rate=D("10"), multipliers=(window,), at=now + timedelta(hours=2))[0] == D(
        "1.00"
    )
    assert referral_amount(gross=D("0.05"), rate=D("10"), multipliers=(), at=now)[0] == D("0.01")  # half up


@pytest.mark.django_db
def test_seed_invitee_spends_10_inviter_earns_1():
    campaign, inviter, invitee = referral_setup()
    order = buy(campaign.merchant, invitee, ("game", "10.00"))
    reward = referral_reward_for_order(order_id=order.pk)
    assert (reward.amount, reward.inviter, reward.status) == (D("1.00"), inviter, "credited")
    assert balance(AccountKind.SHOPPER_CASH, user=inviter) == D("1.00")
    assert campaign_budget_account(campaign).balance == D("999.00")
    books_clean()


@pytest.mark.django_db
def test_seed_invitee_spends_10_in_a_double_window_inviter_earns_2():
    campaign, inviter, invitee = referral_setup()
    double_window(campaign)
    order = buy(campaign.merchant, invitee, ("game", "10.00"))
    reward = referral_reward_for_order(order_id=order.pk)
    assert (reward.amount, reward.factor) == (D("2.00"), D("2.00"))
    assert balance(AccountKind.SHOPPER_CASH, user=inviter) == D("2.00")
    books_clean()


@pytest.mark.django_db
def test_an_order_after_the_window_earns_the_inviter_nothing():
    campaign, inviter, invitee = referral_setup(window_days=30, joined_days_ago=31)
    order = buy(campaign.merchant, invitee, ("game", "10.00"))
    assert referral_reward_for_order(order_id=order.pk) is None
    assert not ReferralReward.objects.exists()
    assert balance(AccountKind.SHOPPER_CASH, user=inviter) == D("0.00")
    books_clean()


@pytest.mark.django_db
def test_running_the_referral_hook_twice_credits_once():
    campaign, inviter, invitee = referral_setup()
    order = buy(campaign.merchant, invitee, ("game", "10.00"))
    first = referral_reward_for_order(order_id=order.pk)
    again = referral_reward_for_order(order_id=order.pk)
    assert again.pk == first.pk
    assert ReferralReward.objects.count() == 1
    assert LedgerTransaction.objects.filter(idempotency_key=f"referral:order:{order.pk}").count() == 1
    assert balance(AccountKind.SHOPPER_CASH, user=inviter) == D("1.00")
    books_clean()


@pytest.mark.django_db(transaction=True)
def test_concurrent_referral_hooks_credit_once():
    campaign, inviter, invitee = referral_setup()
    order = buy(campaign.merchant, invitee, ("game", "10.00"))
    start, errors = threading.Barrier(6), []

    def run():
        start.wait()
        try:
            referral_reward_for_order(order_id=order.pk)
        except Exception as exc:  # any failure fails the test below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert ReferralReward.objects.count() == 1
    assert balance(AccountKind.SHOPPER_CASH, user=inviter) == D("1.00")
    books_clean()


@pytest.mark.django_db
def test_self_referral_is_refused_by_the_database():
    user = UserFactory()
    user.invited_by = user
    with pytest.raises(IntegrityError), transaction.atomic():
        user.save()


@pytest.mark.django_db
def test_a_platform_referral_program_pays_on_orders_at_any_merchant():
    platform_pool_fund(amount=D("100.00"), idempotency_key="pool")
    campaign = CampaignFactory(merchant=None, participants="platform_user")
    campaign_fund(campaign=campaign, amount=D("50.00"), idempotency_key="fund-platform")
    ReferralProgram.objects.create(campaign=campaign, inviter_rate=D("10"), window_days=30)
    inviter = UserFactory()
    invitee = UserFactory(invited_by=inviter)
    reward = referral_reward_for_order(order_id=buy(MerchantFactory(), invitee, ("game", "10.00")).pk)
    assert reward.amount == D("1.00") and campaign_budget_account(campaign).balance == D("49.00")
    books_clean()


@pytest.mark.django_db
def test_a_held_referral_reward_is_reserved_then_credited_once_when_the_hold_ends():
    campaign, inviter, invitee = referral_setup(hold_days=7)
    order = buy(campaign.merchant, invitee, ("game", "10.00"))
    reward = referral_reward_for_order(order_id=order.pk)
    assert reward.status == "pending"
    assert campaign_reserve_account(campaign).balance == D("1.00")
    assert balance(AccountKind.SHOPPER_CASH, user=inviter) == D("0.00")
    books_clean()

    assert referral_rewards_confirm_due(now=timezone.now() + timedelta(days=6)) == 0
    later = timezone.now() + timedelta(days=8)
    assert referral_rewards_confirm_due(now=later) == 1
    assert referral_rewards_confirm_due(now=later) == 0
    assert balance(AccountKind.SHOPPER_CASH, user=inviter) == D("1.00")
    assert campaign_reserve_account(campaign).balance == D("0.00")
    books_clean()


@pytest.mark.django_db
def test_only_orders_a_program_could_pay_for_need_the_outbox_hook():
    campaign, _inviter, invitee = referral_setup()
    assert order_needs_programs(buy(campaign.merchant, invitee, ("game", "10.00")))
    assert not order_needs_programs(buy(campaign.merchant, UserFactory(), ("game", "10.00")))


@pytest.mark.django_db
def test_the_outbox_hook_runs_both_programs_once_and_marks_its_row_done():
    campaign, inviter, invitee = referral_setup()
    order = buy(campaign.merchant, invitee, ("game", "10.00"))
    OutboxEvent.objects.get_or_create(topic=TOPIC_ORDER_PROGRAMS, ref_id=order.pk)  # written by order_create
    programs_for_order(order_id=order.pk)
    programs_for_order(order_id=order.pk)
    assert OutboxEvent.objects.get(topic=TOPIC_ORDER_PROGRAMS, ref_id=order.pk).done_at is not None
    assert balance(AccountKind.SHOPPER_CASH, user=inviter) == D("1.00")
    books_clean()


# --- milestone rebates (紅包反向系統) --------------------


@pytest.fixture
def course(merchant_client):
    """The course platform's campaign: teacher rate 10 %, budget 5000.00."""
    campaign = two_way_campaign(budget="5000.00", merchant=merchant_client.merchant)
    MilestoneProgram.objects.create(campaign=campaign, teacher_rate=D("10.00"))
    return campaign


DEADLINE = (timezone.now() + timedelta(days=90)).replace(microsecond=0).isoformat()


def enrol(client, campaign, teacher, student, *, key=None, **overrides):
    body = {
        "campaign_id": campaign.pk,
        "teacher_id": teacher.pk,
        "student_id": student.pk,
        "external_id": f"ENR-{uuid.uuid4().hex[:8]}",
        "tuition": "3000.00",
        "lessons_required": 12,
        "deadline": DEADLINE,
        **overrides,
    }
    return client.post(
        "/api/v1/milestones/enrolments/", body, format="json", HTTP_IDEMPOTENCY_KEY=key or uuid.uuid4().hex
    )


def attest(client, enrolment_id, lessons, passed, event_id=None):
    body = {"lessons_completed": lessons, "assessment_passed": passed, "event_id": event_id or uuid.uuid4().hex}
    return client.post(f"/api/v1/milestones/enrolments/{enrolment_id}/attest/", body, format="json")


@pytest.fixture
def teacher_and_enrolment(merchant_client, course):
    teacher, student = UserFactory(), UserFactory()
    reply = enrol(merchant_client, course, teacher, student)
    assert reply.status_code == 201, reply.json()
    return teacher, reply.json()["id"]


@pytest.mark.django_db
def test_an_enrolment_reserves_the_teachers_300_from_the_budget_once_per_idempotency_key(merchant_client, course):
    teacher, student = UserFactory(), UserFactory()
    first = enrol(merchant_client, course, teacher, student, key="k-1", external_id="E-1")
    again = enrol(merchant_client, course, teacher, student, key="k-1", external_id="E-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert (first.json()["reward"], first.json()["status"]) == ("300.00", "pending")
    assert campaign_budget_account(course).balance == D("4700.00")
    assert campaign_reserve_account(course).balance == D("300.00")
    other_key = enrol(merchant_client, course, teacher, student, key="k-2", external_id="E-1")
    assert other_key.status_code == 409 and other_key.json()["code"] == "enrolment_exists"
    books_clean()


@pytest.mark.django_db
def test_11_of_12_lessons_pays_the_teacher_nothing(merchant_client, teacher_and_enrolment):
    teacher, enrolment_id = teacher_and_enrolment
    reply = attest(merchant_client, enrolment_id, 11, True)
    assert reply.status_code == 200
    assert (reply.json()["status"], reply.json()["lessons_completed"]) == ("pending", 11)
    assert balance(AccountKind.SHOPPER_CASH, user=teacher) == D("0.00")
    books_clean()


@pytest.mark.django_db
def test_12_lessons_and_a_passed_assessment_pay_the_teacher_300_once(merchant_client, course, teacher_and_enrolment):
    teacher, enrolment_id = teacher_and_enrolment
    assert attest(merchant_client, enrolment_id, 12, False).json()["status"] == "pending"
    paid = attest(merchant_client, enrolment_id, 12, True)
    assert paid.status_code == 200 and paid.json()["status"] == "paid"
    later = attest(merchant_client, enrolment_id, 13, True)
    assert later.status_code == 200 and later.json()["status"] == "paid"
    assert balance(AccountKind.SHOPPER_CASH, user=teacher) == D("300.00")
    assert LedgerTransaction.objects.filter(kind="milestone_reward").count() == 1
    assert campaign_reserve_account(course).balance == D("0.00")
    books_clean()


@pytest.mark.django_db
def test_a_replayed_event_gets_the_same_reply_and_pays_nothing_more(merchant_client, teacher_and_enrolment):
    teacher, enrolment_id = teacher_and_enrolment
    first = attest(merchant_client, enrolment_id, 12, True, event_id="evt-1")
    replay = attest(merchant_client, enrolment_id, 12, True, event_id="evt-1")
    assert replay.status_code == 200 and replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true"
    assert balance(AccountKind.SHOPPER_CASH, user=teacher) == D("300.00")
    books_clean()


@pytest.mark.django_db
def test_a_used_event_id_with_another_payload_is_422(merchant_client, teacher_and_enrolment):
    _teacher, enrolment_id = teacher_and_enrolment
    assert attest(merchant_client, enrolment_id, 5, False, event_id="evt-2").status_code == 200
    reused = attest(merchant_client, enrolment_id, 12, True, event_id="evt-2")
    assert reused.status_code == 422 and reused.json()["code"] == "event_id_reused"
    assert Enrolment.objects.get(pk=enrolment_id).lessons_completed == 5


@pytest.mark.django_db
def test_an_unknown_or_another_platforms_enrolment_is_404(merchant_client, teacher_and_enrolment):
    _teacher, enrolment_id = teacher_and_enrolment
    assert attest(merchant_client, 999_999, 12, True).status_code == 404
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=MerchantStaffFactory().user).key}")
    foreign = attest(other, enrolment_id, 12, True)
    assert foreign.status_code == 404 and foreign.json()["code"] == "enrolment_not_found"
    assert other.get(f"/api/v1/milestones/enrolments/{enrolment_id}/").status_code == 404
    assert Enrolment.objects.get(pk=enrolment_id).status == "pending"


@pytest.mark.django_db
def test_past_the_deadline_the_enrolment_expires_its_reserve_returns_and_reports_are_409(
    merchant_client, course, teacher_and_enrolment
):
    teacher, enrolment_id = teacher_and_enrolment
    Enrolment.objects.filter(pk=enrolment_id).update(deadline=timezone.now() - timedelta(minutes=1))
    refused = attest(merchant_client, enrolment_id, 12, True)
    assert refused.status_code == 409 and refused.json()["code"] == "enrolment_expired"
    assert enrolments_expire_due() == 1
    assert enrolments_expire_due() == 0
    assert Enrolment.objects.get(pk=enrolment_id).status == "expired"
    assert attest(merchant_client, enrolment_id, 12, True).status_code == 409
    assert campaign_budget_account(course).balance == D("5000.00")
    assert balance(AccountKind.SHOPPER_CASH, user=teacher) == D("0.00")
    books_clean()


# --- trial feedback rewards and attribution (新品試用) --------------------


@pytest.fixture
def trial():
    """A beauty shop's trial: a 10.00 packet buys the serum trial size; feedback A → 5.00 of points (500), B → 2.00;
    full-size serum bought within 30 days earns the shop 5 % from the platform marketing pool."""
    platform_pool_fund(amount=D("100.00"), idempotency_key="pool")
    campaign = two_way_campaign(budget="1000.00", issuer_rate=D("0"), holder_rate=D("0"))
    rule = EarnRule.objects.create(campaign=campaign, trigger="manual", packet_amount=D("10.00"), min_spend=D("0"))
    program = TrialProgram.objects.create(
        campaign=campaign,
        trial_category="serum_trial",
        full_category="serum",
        merchant_fee_rate=D("5.00"),
        attribution_days=30,
    )
    program.rule = rule
    return program


def trial_order(program, shopper):
    code = packet_grant(rule=program.rule, holder=shopper).code
    order = buy(program.campaign.merchant, shopper, ("serum_trial", "19.90"), code=code)
    rebates_credit_for_redemption(redemption_id=order.redemption.pk)  # the packet's own (zero) rebates: outbox done
    return order


@pytest.fixture
def shopper_client():
    client = APIClient()
    client.shopper = UserFactory()
    client.force_login(client.shopper)
    return client


def send_feedback(client, order, *, text="很清爽，不黏膩，兩週後毛孔細了，味道淡，會回購正裝。" * 3, rating=4):
    return client.post(
        "/api/v1/trials/feedback/",
        {"order_id": order.pk, "text": text, "rating": rating},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )


def test_the_scoring_rule_grades_by_how_much_was_written_not_by_the_stars():
    assert feedback_auto_grade(text="好" * 60, rating=1) == "A"
    assert feedback_auto_grade(text="好" * 60, rating=5) == "A"
    assert feedback_auto_grade(text="nice product, works ok", rating=5) == "B"
    assert feedback_auto_grade(text="   great   ", rating=5) == "C"
    with pytest.raises(ValueError):
        feedback_auto_grade(text="好" * 60, rating=6)


@pytest.mark.django_db
def test_feedback_is_accepted_only_for_the_shoppers_own_trial_orders(shopper_client, trial):
    client, shopper = shopper_client, shopper_client.shopper
    plain = buy(trial.campaign.merchant, shopper, ("serum", "199.00"))
    refused = send_feedback(client, plain)
    assert refused.status_code == 400 and refused.json()["code"] == "not_a_trial_order"

    someone_elses = trial_order(trial, UserFactory())
    assert send_feedback(client, someone_elses).status_code == 404

    mine = trial_order(trial, shopper)
    accepted = send_feedback(client, mine)
    assert accepted.status_code == 201 and accepted.json()["grade"] == ""
    again = send_feedback(client, mine)
    assert again.status_code == 409 and again.json()["code"] == "feedback_exists"
    assert Feedback.objects.count() == 1


@pytest.mark.django_db
def test_grading_a_rewards_500_points_from_the_budget_once(shopper_client, trial):
    client, shopper = shopper_client, shopper_client.shopper
    feedback_id = send_feedback(client, trial_order(trial, shopper)).json()["id"]
    _graded, changed = feedback_grade(feedback_id=feedback_id, grade="A")
    regraded, changed_again = feedback_grade(feedback_id=feedback_id, grade="B")
    assert (changed, changed_again) == (True, False)
    assert (regraded.grade, regraded.reward_points, regraded.reward_cost) == ("A", 500, D("5.00"))
    assert balance(AccountKind.SHOPPER_POINTS, "POINTS", user=shopper) == D("500")
    assert balance(AccountKind.POINTS_BACKING) == D("5.00")
    assert LedgerTransaction.objects.filter(kind="trial_feedback_reward").count() == 1
    books_clean()


@pytest.mark.django_db
def test_the_admin_action_grades_a_and_rewards_once(client, trial):
    shopper = UserFactory()
    feedback = Feedback.objects.create(
        program=trial, order=trial_order(trial, shopper), shopper=shopper, text="不錯", rating=5
    )
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    changelist = "/admin/campaigns/feedback/"
    for _ in range(2):
        reply = client.post(changelist, {"action": "grade_a", "_selected_action": [feedback.pk]})
        assert reply.status_code == 302
    feedback.refresh_from_db()
    assert (feedback.grade, feedback.graded_by, feedback.reward_points) == ("A", "reviewer", 500)
    assert balance(AccountKind.SHOPPER_POINTS, "POINTS", user=shopper) == D("500")
    books_clean()


@pytest.mark.django_db
def test_a_rule_graded_program_rewards_on_submission(shopper_client, trial):
    TrialProgram.objects.filter(pk=trial.pk).update(auto_grade=True)
    client, shopper = shopper_client, shopper_client.shopper
    reply = send_feedback(client, trial_order(trial, shopper), text="nice product, works ok", rating=5)
    assert (reply.json()["grade"], reply.json()["reward_points"]) == ("B", 200)
    assert balance(AccountKind.SHOPPER_POINTS, "POINTS", user=shopper) == D("200")
    books_clean()


@pytest.mark.django_db
def test_a_full_size_purchase_within_the_window_earns_the_merchant_its_fee_once(trial):
    shopper = UserFactory()
    trial_order(trial, shopper)
    full = buy(trial.campaign.merchant, shopper, ("serum", "200.00"))
    first = trial_attribution_for_order(order_id=full.pk)
    again = trial_attribution_for_order(order_id=full.pk)
    assert again.pk == first.pk and first.amount == D("10.00")
    merchant = trial.campaign.merchant
    assert balance(AccountKind.MERCHANT_MARKETING_CREDIT, merchant=merchant) == D("10.00")
    assert balance(AccountKind.PLATFORM_MARKETING_POOL) == D("90.00")
    assert TrialAttribution.objects.count() == 1
    books_clean()


@pytest.mark.django_db
def test_a_full_size_purchase_outside_the_window_earns_nothing(trial):
    shopper = UserFactory()
    tried = trial_order(trial, shopper)
    type(tried).objects.filter(pk=tried.pk).update(created_at=timezone.now() - timedelta(days=31))
    full = buy(trial.campaign.merchant, shopper, ("serum", "200.00"))
    assert trial_attribution_for_order(order_id=full.pk) is None
    assert balance(AccountKind.MERCHANT_MARKETING_CREDIT, merchant=trial.campaign.merchant) == D("0.00")
    books_clean()


@pytest.mark.django_db
def test_every_program_admin_page_renders_for_an_operator(client, trial, course):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    shopper = UserFactory()
    Feedback.objects.create(program=trial, order=trial_order(trial, shopper), shopper=shopper, text="ok", rating=3)
    for model in ("referralprogram", "milestoneprogram", "trialprogram"):
        assert client.get(f"/admin/campaigns/{model}/add/").status_code == 200
    for model in ("referralreward", "enrolment", "milestoneattestation", "feedback", "trialattribution"):
        assert client.get(f"/admin/campaigns/{model}/").status_code == 200, model
    page = client.get(f"/admin/campaigns/trialprogram/{trial.pk}/change/")
    assert page.status_code == 200 and b"serum_trial" in page.content
