from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from rebates.ledger import ledger_account, platform_account, transfer
from rebates.models import AccountKind
from tests.factories.accounts import UserFactory


@pytest.fixture
def funded_wallet(db):
    wallet = ledger_account(kind=AccountKind.SHOPPER_CASH, user_id=UserFactory().pk)
    transfer(
        source=platform_account(AccountKind.PLATFORM_EXTERNAL),
        destination=wallet,
        amount=Decimal("8.00"),
        kind="deposit",
        idempotency_key="a1",
        reference="test",
    )
    return wallet


def test_audit_is_clean_on_correct_books(funded_wallet, capsys):
    call_command("audit")
    assert "audit clean" in capsys.readouterr().out


def test_audit_finds_a_corrupted_balance_and_fails(funded_wallet, capsys):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE rebates_ledgeraccount SET balance = 9.00 WHERE id = %s", [funded_wallet.pk])
    with pytest.raises(CommandError, match="1 problem"):
        call_command("audit")
    out = capsys.readouterr().out
    assert f"account {funded_wallet.pk} (shopper_cash) stores 9.00 but its entries sum to 8.00" in out


# --- "no reward is both paid out and reversed without a debt" and its neighbours -------------------------------------


@pytest.fixture
def paid_out_rebate(db):
    """A shopper's 2.50 rebate, credited and then withdrawn in full: the wallet is empty."""
    from campaigns.models import Campaign
    from rebates.models import Rebate
    from rebates.services import rebates_credit_for_redemption
    from tests.campaigns.test_rules_in_orders import buy
    from tests.factories.campaigns import two_way_campaign

    campaign, shopper = two_way_campaign(), UserFactory()
    Campaign.objects.filter(pk=campaign.pk).update(refund_packet_policy="void")
    code = buy(campaign.merchant, shopper, ("fruit", "200.00")).earned_packets.get().code
    order = buy(campaign.merchant, shopper, ("fruit", "50.00"), code=code)
    rebates_credit_for_redemption(redemption_id=order.redemption.pk)
    transfer(
        source=ledger_account(kind=AccountKind.SHOPPER_CASH, user_id=shopper.pk),
        destination=platform_account(AccountKind.PLATFORM_EXTERNAL),
        amount=Decimal("2.50"),
        kind="withdrawal",
        idempotency_key="paid-out",
        reference="test",
    )
    call_command("audit")
    return order, Rebate.objects.get(redemption=order.redemption, role="holder")


def audit_findings(capsys) -> str:
    with pytest.raises(CommandError):
        call_command("audit")
    out = capsys.readouterr().out
    return out


def test_a_reversal_of_a_paid_out_rebate_is_booked_as_debt(paid_out_rebate, capsys):
    from packets.services import order_refund

    order, holder = paid_out_rebate
    order_refund(order=order, amount=Decimal("50.00"))
    debt = ledger_account(kind=AccountKind.SHOPPER_DEBT, user_id=holder.beneficiary_user_id)
    debt.refresh_from_db()
    assert debt.balance == Decimal("-2.50")
    call_command("audit")
    assert "audit clean" in capsys.readouterr().out


def test_audit_catches_a_reversal_of_a_paid_out_rebate_that_books_no_debt(paid_out_rebate, capsys):
    from campaigns.selectors import campaign_budget_account
    from rebates.ledger import Posting, ledger_post
    from rebates.models import Rebate

    _order, holder = paid_out_rebate
    # The bug this guards against: the wallet is empty, so the "reversal" quietly takes the money from the outside
    # world instead of booking the shopper's debt — the rebate is paid out AND reversed, and nobody owes anything.
    ledger_post(
        kind="rebate_reverse",
        idempotency_key=f"rebate:{holder.pk}:reverse:bad",
        reference=f"rebate:{holder.pk}",
        postings=[
            Posting(campaign_budget_account(holder.redemption.packet.campaign), Decimal("2.50")),
            Posting(platform_account(AccountKind.PLATFORM_EXTERNAL), Decimal("-2.50")),
        ],
    )
    Rebate.objects.filter(pk=holder.pk).update(reversed_amount=Decimal("2.50"), status="reversed")

    out = audit_findings(capsys)

    assert f"rebate {holder.pk} says 2.50 reversed, its reversals moved 0.00 from its beneficiary" in out
    assert (
        f"user {holder.beneficiary_user_id}: rewards credited less reversed 0.00 CNY, "
        f"but reward transactions moved 2.50 into its pending + available + debt"
    ) in out


def test_a_refund_before_the_worker_ran_is_reversed_when_it_credits(db, capsys):
    from packets.services import order_refund
    from rebates.models import Rebate
    from rebates.services import rebates_credit_for_redemption
    from tests.campaigns.test_rules_in_orders import buy
    from tests.factories.campaigns import two_way_campaign

    campaign, shopper = two_way_campaign(), UserFactory()
    code = buy(campaign.merchant, shopper, ("fruit", "200.00")).earned_packets.get().code
    order = buy(campaign.merchant, shopper, ("fruit", "50.00"), code=code)
    order_refund(order=order, amount=Decimal("20.00"))  # before the worker: no rebate exists yet
    rebates_credit_for_redemption(redemption_id=order.redemption.pk)

    holder = Rebate.objects.get(redemption=order.redemption, role="holder")
    assert holder.reversed_amount == Decimal("1.00")  # 2.50 × 20 / 50
    call_command("audit")
    assert "audit clean" in capsys.readouterr().out


def test_audit_catches_a_refund_whose_share_the_rebates_never_gave_back(paid_out_rebate, capsys):
    from packets.models import Refund

    order, holder = paid_out_rebate
    # Written behind the services' back: a refund no reversal followed (as a worker that forgot refunds would leave).
    Refund.objects.create(order=order, amount=Decimal("20.00"), reason="test")

    out = audit_findings(capsys)

    assert f"rebate {holder.pk}: refunds of 20.00 out of 50.00 take back 1.00, it gave back 0.00" in out


def test_audit_catches_a_reversal_taken_from_another_shoppers_wallet(paid_out_rebate, capsys):
    from campaigns.selectors import campaign_budget_account
    from rebates.ledger import Posting, ledger_post
    from rebates.models import Rebate

    _order, holder = paid_out_rebate
    other = ledger_account(kind=AccountKind.SHOPPER_CASH, user_id=UserFactory().pk)
    transfer(
        source=platform_account(AccountKind.PLATFORM_EXTERNAL),
        destination=other,
        amount=Decimal("2.50"),
        kind="deposit",
        idempotency_key="other",
        reference="test",
    )
    ledger_post(
        kind="rebate_reverse",
        idempotency_key=f"rebate:{holder.pk}:reverse:bad",
        reference=f"rebate:{holder.pk}",
        postings=[
            Posting(campaign_budget_account(holder.redemption.packet.campaign), Decimal("2.50")),
            Posting(other, Decimal("-2.50")),
        ],
    )
    Rebate.objects.filter(pk=holder.pk).update(reversed_amount=Decimal("2.50"), status="reversed")

    out = audit_findings(capsys)

    assert f"rebate {holder.pk}: a reversal moved 1 entries of another owner's wallet" in out


def test_audit_catches_a_debt_forgiven_outside_the_reward_flow(paid_out_rebate, capsys):
    from packets.services import order_refund

    order, holder = paid_out_rebate
    order_refund(order=order, amount=Decimal("50.00"))
    debt = ledger_account(kind=AccountKind.SHOPPER_DEBT, user_id=holder.beneficiary_user_id)
    txn, _ = transfer(
        source=platform_account(AccountKind.PLATFORM_EXTERNAL),
        destination=debt,
        amount=Decimal("2.50"),
        kind="adjustment",
        idempotency_key="forgive",
        reference="test",
    )

    out = audit_findings(capsys)

    assert f"transaction {txn.pk} (adjustment) moves 2.50 on debt account {debt.pk} (shopper_debt)" in out


def test_audit_catches_a_reward_credited_while_a_debt_is_owed(paid_out_rebate, capsys):
    from campaigns.selectors import campaign_budget_account
    from packets.services import order_refund

    order, holder = paid_out_rebate
    order_refund(order=order, amount=Decimal("50.00"))  # the shopper owes 2.50
    debt = ledger_account(kind=AccountKind.SHOPPER_DEBT, user_id=holder.beneficiary_user_id)
    # A reward credit that skips the netting: all of it lands in the wallet while the debt stays.
    txn, _ = transfer(
        source=campaign_budget_account(holder.redemption.packet.campaign),
        destination=ledger_account(kind=AccountKind.SHOPPER_CASH, user_id=holder.beneficiary_user_id),
        amount=Decimal("1.00"),
        kind="rebate",
        idempotency_key="unnetted",
        reference="test",
    )

    out = audit_findings(capsys)

    assert (
        f"transaction {txn.pk} credited an available balance while debt account {debt.pk} was owed 2.50 (repaid 0)"
    ) in out


def test_audit_catches_a_move_on_payouts_in_flight_that_is_no_payout(funded_wallet, capsys):
    from rebates.payouts.services import clearing_account

    txn, _ = transfer(
        source=funded_wallet,
        destination=clearing_account(),
        amount=Decimal("1.00"),
        kind="payout_reserve",
        idempotency_key="not-a-payout",
        reference="payout:999999",
    )

    out = audit_findings(capsys)

    assert f"transaction {txn.pk} (payout_reserve, payout:999999) moves payouts in flight but is no payout's leg" in out


def test_audit_catches_a_referral_reversal_without_its_ledger_transaction(capsys, db):
    from campaigns.models import ReferralReward
    from campaigns.programs import programs_for_order
    from tests.campaigns.programs.test_programs import referral_setup
    from tests.campaigns.test_rules_in_orders import buy

    campaign, _inviter, invitee = referral_setup()
    order = buy(campaign.merchant, invitee, ("game", "10.00"))
    programs_for_order(order_id=order.pk)
    reward = ReferralReward.objects.get(order=order)
    call_command("audit")
    ReferralReward.objects.filter(pk=reward.pk).update(reversed_amount=Decimal("0.40"))

    out = audit_findings(capsys)

    assert f"referral reward {reward.pk} says 0.40 reversed, its reversals moved 0.00" in out


# --- every redemption is at a merchant its campaign allows ---------------------------------------------------------


def test_audit_flags_a_redemption_written_at_a_merchant_its_campaign_does_not_cover(db, capsys):
    from tests.campaigns.test_rules_in_orders import buy
    from tests.factories.accounts import MerchantFactory
    from tests.factories.campaigns import two_way_campaign

    campaign, shopper, other = two_way_campaign(), UserFactory(), MerchantFactory()
    code = buy(campaign.merchant, shopper, ("fruit", "200.00")).earned_packets.get().code
    order = buy(campaign.merchant, shopper, ("fruit", "50.00"), code=code)
    call_command("audit", "--outbox-grace", "3600")
    capsys.readouterr()
    # Behind the application's back: the redemption now stands on another merchant's order.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE packets_order SET merchant_id = %s WHERE id = %s", [other.pk, order.pk])

    with pytest.raises(CommandError, match="1 problem"):
        call_command("audit", "--outbox-grace", "3600")

    assert (
        f"redemption {order.redemption.pk} was spent at merchant {other.pk}, "
        f"but its campaign {campaign.pk} is merchant {campaign.merchant_id}'s"
    ) in capsys.readouterr().out


def test_audit_accepts_a_platform_campaigns_redemption_at_any_merchant(db, capsys):
    from packets.services import packet_grant
    from tests.campaigns.test_rules_in_orders import buy
    from tests.factories.accounts import MerchantFactory
    from tests.factories.campaigns import platform_campaign

    shopper = UserFactory()
    for merchant in (MerchantFactory(), MerchantFactory()):
        packet = packet_grant(rule=platform_campaign().earn_rules.get(), holder=shopper)
        buy(merchant, shopper, ("fruit", "50.00"), code=packet.code)

    call_command("audit", "--outbox-grace", "3600")

    assert "audit clean" in capsys.readouterr().out
