"""The pure engine, one behaviour per test, with the seed's worked numbers."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaigns.rules import (
    CampaignSpec,
    CartLine,
    CategoryRate,
    Counters,
    EarnSpec,
    Event,
    LegSpec,
    Multiplier,
    RebateSpec,
    Region,
    ShopperFacts,
    Tier,
    check_packet,
    draw_tier,
    evaluate_earn,
    rebate_legs,
    simulate,
)

D = Decimal
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def campaign(**overrides) -> CampaignSpec:
    data = {
        "id": 1,
        "merchant_id": 7,
        "status": "active",
        "starts_at": NOW - timedelta(days=1),
        "ends_at": NOW + timedelta(days=30),
        "earn_rules": (
            EarnSpec(id=1, trigger="purchase", amount=D("10.00"), threshold=D("200.00"), min_spend=D("50")),
        ),
        "rebate": RebateSpec(issuer=LegSpec(rate=D("10")), holder=LegSpec(rate=D("5"))),
    }
    data.update(overrides)
    return CampaignSpec(**data)


def purchase(*lines: CartLine, **kw) -> Event:
    return Event(trigger="purchase", at=kw.pop("at", NOW), lines=lines, **kw)


def fruit(price: str, qty: int = 1) -> CartLine:
    return CartLine("fruit", qty, D(price))


def legs_of(rebate: RebateSpec, lines, *, discount="0", at=NOW, merchant=7, user=None) -> dict:
    snapshot = rebate.to_snapshot(issuer_merchant_id=merchant, issuer_user_id=user)
    return {leg.role: leg for leg in rebate_legs(snapshot, lines=lines, discount=D(discount), at=at)}


# --- earning -----------------------------------------------------------------------------------------------------


def test_purchase_at_the_threshold_earns_the_packet():
    [decision] = evaluate_earn(campaign(), purchase(fruit("200.00")))
    assert decision.fires and decision.amount == D("10.00")


def test_purchase_below_the_threshold_earns_nothing_and_says_why():
    [decision] = evaluate_earn(campaign(), purchase(fruit("199.99")))
    assert not decision.fires
    assert decision.code == "below_threshold"
    assert "199.99 < threshold 200.00" in decision.reason


def test_excluded_categories_do_not_count_towards_the_threshold():
    rule = EarnSpec(id=1, trigger="purchase", amount=D("10"), threshold=D("200"), denied_categories=("tobacco",))
    [decision] = evaluate_earn(campaign(earn_rules=(rule,)), purchase(fruit("150.00"), CartLine("tobacco", 1, D("60"))))
    assert not decision.fires


@pytest.mark.parametrize("trigger", ["registration", "check_in", "share", "referral", "manual"])
def test_each_trigger_fires_only_its_own_rules(trigger):
    rules = (EarnSpec(id=1, trigger=trigger, amount=D("5")), EarnSpec(id=2, trigger="purchase", amount=D("9")))
    decisions = evaluate_earn(campaign(earn_rules=rules), Event(trigger=trigger, at=NOW))
    assert [(d.earn_rule_id, d.fires) for d in decisions] == [(1, True)]


def test_weighted_tiers_draw_by_cumulative_weight():
    tiers = (Tier(D("5.00"), 70), Tier(D("10.00"), 30))
    assert draw_tier(tiers, 0.0).amount == D("5.00")
    assert draw_tier(tiers, 0.6999).amount == D("5.00")
    assert draw_tier(tiers, 0.70).amount == D("10.00")
    assert draw_tier(tiers, 0.9999).amount == D("10.00")


def test_newbie_packet_tier_comes_from_the_draw():
    rule = EarnSpec(id=1, trigger="registration", amount=D("5"), tiers=(Tier(D("5"), 1), Tier(D("10"), 1)))
    [low] = evaluate_earn(campaign(earn_rules=(rule,)), Event(trigger="registration", at=NOW, draw=0.1))
    [high] = evaluate_earn(campaign(earn_rules=(rule,)), Event(trigger="registration", at=NOW, draw=0.9))
    assert (low.amount, high.amount) == (D("5"), D("10"))


@pytest.mark.parametrize(
    ("status", "at", "code"),
    [("paused", NOW, "campaign_not_active"), ("active", NOW + timedelta(days=31), "campaign_outside_window")],
)
def test_a_campaign_not_running_earns_nothing(status, at, code):
    [decision] = evaluate_earn(campaign(status=status), purchase(fruit("300"), at=at))
    assert decision.code == code


def test_region_scope_uses_the_orders_region_then_the_shoppers():
    spec = campaign(regions=("广东/深圳", "浙江"))
    shenzhen = ShopperFacts(region=Region("广东", "深圳"))
    assert evaluate_earn(spec, purchase(fruit("200"), shopper=shenzhen))[0].fires
    assert evaluate_earn(spec, purchase(fruit("200"), region=Region("浙江", "杭州")))[0].fires
    [refused] = evaluate_earn(spec, purchase(fruit("200"), shopper=ShopperFacts(region=Region("广东", "广州"))))
    assert refused.code == "region_not_in_scope"


def test_new_users_only_refuses_a_shopper_with_orders():
    spec = campaign(user_scope="new_users")
    assert evaluate_earn(spec, purchase(fruit("200")))[0].fires
    assert evaluate_earn(spec, purchase(fruit("200"), shopper=ShopperFacts(prior_orders=1)))[0].code == "not_a_new_user"


def test_segment_scope_needs_a_shared_segment():
    spec = campaign(user_scope="segments", segments=("mother_baby",))
    assert evaluate_earn(spec, purchase(fruit("200"), shopper=ShopperFacts(segments=frozenset({"mother_baby"}))))[
        0
    ].fires
    assert not evaluate_earn(spec, purchase(fruit("200")))[0].fires


def test_limits_and_daily_cap_are_explained_from_counters():
    spec = campaign(per_user_limit=1, packet_limit=100, daily_budget_cap=D("100"))
    assert evaluate_earn(spec, purchase(fruit("200"), counters=Counters(user_packets=1)))[0].code == (
        "per_user_limit_reached"
    )
    assert evaluate_earn(spec, purchase(fruit("200"), counters=Counters(campaign_packets=100)))[0].code == (
        "campaign_limit_reached"
    )
    assert evaluate_earn(spec, purchase(fruit("200"), counters=Counters(spent_today=D("95"))))[0].code == (
        "daily_budget_cap_reached"
    )


# --- rebates -----------------------------------------------------------------------------------------------------


def test_seed_second_purchase_50_pays_merchant_5_and_shopper_2_50():
    legs = legs_of(RebateSpec(issuer=LegSpec(rate=D("10")), holder=LegSpec(rate=D("5"))), [fruit("50.00")])
    assert (legs["issuer"].amount, legs["issuer"].form) == (D("5.00"), "marketing_credit")
    assert (legs["holder"].amount, legs["holder"].form) == (D("2.50"), "cash")


def test_seed_fruit_cashback_is_8_percent_of_the_gross_50_not_the_40_paid():
    legs = legs_of(RebateSpec(holder=LegSpec(rate=D("8"))), [fruit("50.00")], discount="10.00")
    assert legs["holder"].amount == D("4.00")
    assert "issuer" not in legs


def test_base_paid_spreads_the_discount_over_the_lines():
    rebate = RebateSpec(holder=LegSpec(rate=D("10")), base="paid")
    assert legs_of(rebate, [fruit("30.00"), fruit("20.00")], discount="10.00")["holder"].amount == D("4.00")


def test_seed_double_rebate_inviter_gets_1_normally_and_2_in_a_double_window():
    window = Multiplier(NOW + timedelta(days=1), NOW + timedelta(days=2), D("2"))
    rebate = RebateSpec(issuer=LegSpec(rate=D("10")), multipliers=(window,))
    game = [CartLine("game", 1, D("10.00"))]
    normal = legs_of(rebate, game, merchant=None, user=42)
    doubled = legs_of(rebate, game, merchant=None, user=42, at=NOW + timedelta(days=1, hours=1))
    assert (normal["issuer"].amount, normal["issuer"].form) == (D("1.00"), "cash")
    assert doubled["issuer"].amount == D("2.00")
    assert "×2 promotion window" in doubled["issuer"].reason


def test_per_category_rates_override_the_flat_rate():
    rebate = RebateSpec(
        holder=LegSpec(rate=D("1")),
        category_rates=(CategoryRate("fruit", None, D("8")), CategoryRate("dairy", None, D("3"))),
    )
    lines = [fruit("50.00"), CartLine("dairy", 2, D("10.00")), CartLine("snacks", 1, D("10.00"))]
    assert legs_of(rebate, lines)["holder"].amount == D("4.00") + D("0.60") + D("0.10")


def test_fixed_legs_and_caps():
    rebate = RebateSpec(issuer=LegSpec(mode="fixed", fixed=D("3.00")), holder=LegSpec(rate=D("50"), cap=D("20.00")))
    legs = legs_of(rebate, [fruit("100.00")])
    assert (legs["issuer"].amount, legs["holder"].amount) == (D("3.00"), D("20.00"))
    assert "capped at 20.00" in legs["holder"].reason


def test_holder_points_use_the_factor_and_whole_points():
    legs = legs_of(RebateSpec(holder=LegSpec(rate=D("5")), holder_form="points", points_per_cny=100), [fruit("50.00")])
    assert (legs["holder"].currency, legs["holder"].units, legs["holder"].amount) == ("POINTS", D("250"), D("2.50"))


def test_no_issuer_means_no_issuer_leg():
    legs = legs_of(RebateSpec(issuer=LegSpec(rate=D("10")), holder=LegSpec(rate=D("5"))), [fruit("50")], merchant=None)
    assert set(legs) == {"holder"}


def test_snapshot_round_trips():
    rebate = RebateSpec(
        issuer=LegSpec(mode="fixed", fixed=D("1.00"), cap=D("5"), funding="platform_pool"),
        category_rates=(CategoryRate("fruit", D("2"), None),),
        multipliers=(Multiplier(NOW, NOW + timedelta(hours=1), D("2")),),
    )
    assert RebateSpec.from_snapshot(rebate.to_snapshot(issuer_merchant_id=1, issuer_user_id=None)) == rebate


@given(
    prices=st.lists(st.decimals(min_value=D("0.01"), max_value=D("5000"), places=2), min_size=1, max_size=8),
    rate=st.decimals(min_value=D("0"), max_value=D("100"), places=2),
)
def test_a_leg_is_always_whole_fen_and_never_more_than_rate_allows(prices, rate):
    lines = [fruit(str(p)) for p in prices]
    legs = legs_of(RebateSpec(holder=LegSpec(rate=rate)), lines)
    gross = sum(prices)
    if "holder" in legs:
        amount = legs["holder"].amount
        assert amount == amount.quantize(D("0.01"))
        assert abs(amount - gross * rate / 100) <= D("0.005")


# --- packets at checkout -----------------------------------------------------------------------------------------


def check(lines, **kw):
    args = {
        "campaign_merchant_id": 7,
        "merchant_id": 7,
        "packet_status": "issued",
        "expires_at": NOW + timedelta(days=1),
        "amount": D("10.00"),
        "min_spend": D("50.00"),
        "categories": (),
        "campaign_live": True,
        "lines": lines,
        "now": NOW,
    }
    args.update(kw)
    return check_packet(**args)


def test_threshold_coupon_spend_50_get_10_off():
    assert check([fruit("50.00")]).discount == D("10.00")
    assert check([fruit("49.99")]).code == "packet_min_spend_not_met"


def test_allowed_and_denied_categories_decide_the_eligible_spend():
    lines = [fruit("40.00"), CartLine("dairy", 1, D("40.00"))]
    assert check(lines, categories=("fruit",)).code == "packet_min_spend_not_met"
    assert check(lines, denied_categories=("dairy",)).code == "packet_min_spend_not_met"
    assert check(lines).ok


def test_discount_never_exceeds_the_eligible_amount():
    assert check([fruit("6.00")], min_spend=D("0")).discount == D("6.00")


def test_a_merchant_campaigns_packet_is_not_accepted_at_another_merchant():
    verdict = check([fruit("50.00")], campaign_merchant_id=7, merchant_id=8)
    assert (verdict.ok, verdict.code, verdict.discount) == (False, "packet_not_accepted_here", D("0"))


def test_the_merchant_is_judged_before_the_packets_state():
    # A foreign merchant learns nothing of the packet: used or not, it is simply not accepted there.
    assert check([fruit("50.00")], merchant_id=8, packet_status="used").code == "packet_not_accepted_here"


def test_a_platform_campaigns_packet_is_accepted_at_any_merchant():
    assert all(check([fruit("50.00")], campaign_merchant_id=None, merchant_id=m).ok for m in (7, 8, 9))


def test_simulator_judges_the_packet_at_the_merchant_the_order_is_placed_at():
    assert simulate(campaign(), purchase(fruit("50.00")), issuer_merchant_id=7).packet.ok
    elsewhere = simulate(campaign(), purchase(fruit("50.00"), merchant_id=8), issuer_merchant_id=7)
    assert (elsewhere.packet.code, elsewhere.legs) == ("packet_not_accepted_here", ())
    platform = campaign(merchant_id=None, rebate=RebateSpec(holder=LegSpec(rate=D("5"))))
    assert simulate(platform, purchase(fruit("50.00"), merchant_id=8), issuer_merchant_id=None).packet.ok


def test_simulator_shows_earn_packet_and_legs_with_reasons():
    result = simulate(campaign(), purchase(fruit("50.00")), issuer_merchant_id=7)
    assert not result.earn[0].fires
    assert result.packet.ok and result.packet.discount == D("10.00")
    assert {leg.role: leg.amount for leg in result.legs} == {"issuer": D("5.00"), "holder": D("2.50")}
    assert all(leg.reason for leg in result.legs)
