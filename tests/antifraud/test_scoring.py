"""The risk rules, on plain facts: fixed order, weights, and the campaign policy's decision."""

from antifraud.scoring import ALLOW, BLOCK, REVIEW, Policy, RiskFacts, TrailFacts, assess, signal

POLICY = Policy(action="block", review_score=50, block_score=90)
GOOD_TRAIL = TrailFacts(events=4, seconds=240, twins=0)


def codes(verdict) -> list[str]:
    return [s.code for s in verdict.signals]


def test_an_honest_looking_redemption_is_allowed_with_no_signals():
    verdict = assess(RiskFacts(trail=GOOD_TRAIL, device_accounts=1, ip_accounts=1), POLICY)

    assert (verdict.score, verdict.decision, verdict.signals) == (0, ALLOW, ())


def test_no_trail_alone_holds_for_review_when_a_trail_is_expected():
    verdict = assess(RiskFacts(trail=TrailFacts(0, 0, 0)), POLICY)

    assert verdict.decision == REVIEW and codes(verdict) == ["no_trail"]


def test_a_trail_is_not_judged_when_the_policy_does_not_expect_one():
    assert assess(RiskFacts(trail=None), POLICY).decision == ALLOW


def test_a_scripted_trail_with_a_crowded_device_is_blocked():
    verdict = assess(RiskFacts(trail=TrailFacts(4, 12, 3), device_accounts=6), POLICY)

    assert verdict.decision == BLOCK and verdict.score == 100
    assert codes(verdict) == ["trail_too_fast", "scripted_trail", "device_crowded"]


def test_weak_signals_together_stay_below_the_review_score():
    facts = RiskFacts(trail=GOOD_TRAIL, account_age_seconds=60, packet_age_seconds=30, device_accounts=2)

    verdict = assess(facts, POLICY)

    assert verdict.decision == ALLOW and verdict.score == 15


def test_the_allow_list_is_evaluated_first_and_skips_everything_else():
    facts = RiskFacts(allow_listed=("user",), user_banned=True, trail=TrailFacts(0, 0, 0))

    verdict = assess(facts, POLICY)

    assert verdict.decision == ALLOW and codes(verdict) == ["allow_listed"]


def test_a_ban_blocks_whatever_the_policy_action():
    verdict = assess(RiskFacts(user_banned=True), Policy(action="allow"))

    assert verdict.decision == BLOCK and codes(verdict) == ["user_banned"]


def test_policy_allow_only_records_and_hold_never_blocks():
    risky = RiskFacts(trail=TrailFacts(3, 5, 4), staff_overlap=("device",))

    assert assess(risky, Policy(action="allow")).decision == ALLOW
    assert assess(risky, Policy(action="hold")).decision == REVIEW
    assert assess(risky, Policy(action="block")).decision == BLOCK


def test_a_rebate_inherits_the_signals_of_its_redemption_once():
    inherited = (signal("no_trail"), signal("open_finding", findings="#3 referral farm"))

    verdict = assess(RiskFacts(open_findings=("#3 referral farm",), inherited=inherited), POLICY)

    assert codes(verdict) == ["open_finding", "no_trail"]
    assert verdict.score == 100 and verdict.decision == BLOCK


def test_signals_explain_themselves_in_plain_words():
    verdict = assess(RiskFacts(trail=TrailFacts(3, 12, 0), ip_accounts=7), POLICY)

    details = [s["detail"] for s in verdict.signals_json()]
    assert details == [
        "The shopping trail took only 12 seconds from the first step to the order.",
        "7 accounts earned packets from this IP address today.",
    ]
