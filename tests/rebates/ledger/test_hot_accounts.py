"""Hot accounts (issue 13): a redemption takes turns on no row its campaign's other redemptions use, and every
balance stays exact — through floats, roll-ups, refunds and the budget running out."""

import threading
import uuid
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction

from campaigns.selectors import campaign_budget_account, campaign_outstanding_account, campaign_reserve_account
from campaigns.services import merchant_deposit
from packets.errors import BudgetExhausted
from packets.models import Order, Packet, Redemption
from packets.services import LineInput, order_create, order_refund, packet_grant
from rebates.ledger import ledger_account, ledger_rollup, transfer
from rebates.models import AccountKind, Entry, LedgerAccount, PostingMode
from rebates.services import rebates_credit_for_redemption
from tests.factories.accounts import UserFactory
from tests.factories.campaigns import two_way_campaign

D = Decimal
pytestmark = pytest.mark.django_db(transaction=True)
# A 10.00 packet spent on a 50.00 order: issuer 10 % (5.00) + holder 5 % (2.50) come out of the budget.
LEGS = D("7.50")


def packets(campaign, n: int) -> list[Packet]:
    rule = campaign.earn_rules.get()
    return [packet_grant(rule=rule, holder=UserFactory()) for _ in range(n)]


def spend(packet: Packet) -> Order:
    return order_create(
        merchant=packet.campaign.merchant,
        shopper=packet.holder,
        order_no=f"HOT-{uuid.uuid4().hex[:10]}",
        lines=[LineInput("SKU-1", "Item", "fruit", 1, D("50.00"))],
        gross_amount=D("50.00"),
        packet_code=packet.code,
    )


def shared_rows(campaign) -> list[LedgerAccount]:
    return [
        campaign_budget_account(campaign),
        campaign_outstanding_account(campaign),
        campaign_reserve_account(campaign),
        ledger_account(kind=AccountKind.MERCHANT_DEPOSIT, merchant_id=campaign.merchant_id),
    ]


def sum_of_entries(account: LedgerAccount) -> Decimal:
    total = D("0.00")
    for shard in LedgerAccount.objects.filter(
        kind=account.kind, currency=account.currency, campaign=account.campaign_id, merchant=account.merchant_id
    ):
        total += sum(Entry.objects.filter(account=shard).values_list("amount", flat=True), D("0.00"))
    return total


def books_exact():
    """The worker's part done (its rebates credited), then the audit."""
    for redemption_id in Redemption.objects.filter(rebates__isnull=True).values_list("pk", flat=True):
        rebates_credit_for_redemption(redemption_id=redemption_id)
    call_command("audit")


def run_threads(target, args_list) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(len(args_list))

    def run(*args):
        start.wait()
        try:
            target(*args)
        except BaseException as exc:  # collected: the test asserts there were none (or only the expected ones)
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=args) for args in args_list]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_the_accounts_every_redemption_touches_are_buffered_or_pass_through():
    campaign = two_way_campaign()
    modes = {a.kind: a.posting_mode for a in shared_rows(campaign)}
    assert modes == {
        AccountKind.CAMPAIGN_BUDGET: PostingMode.BUFFERED,
        AccountKind.PACKETS_OUTSTANDING: PostingMode.PASS_THROUGH,
        AccountKind.REBATE_RESERVE: PostingMode.PASS_THROUGH,
        AccountKind.MERCHANT_DEPOSIT: PostingMode.BUFFERED,
    }


def test_a_redemption_goes_through_while_another_transaction_holds_the_campaigns_shared_rows():
    campaign = two_way_campaign()
    first, second = packets(campaign, 2)
    spend(first)  # the first one fills a float: the next redemptions debit it
    held, release = threading.Event(), threading.Event()

    def hold_rows():
        # What an UPDATE of those rows (the balance trigger) or another redemption's lock would take.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM rebates_ledgeraccount WHERE id = ANY(%s) FOR NO KEY UPDATE",
                [[a.pk for a in shared_rows(campaign)]],
            )
            held.set()
            release.wait(30)
        connections.close_all()

    holder = threading.Thread(target=hold_rows)
    holder.start()
    try:
        assert held.wait(10)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '3s'")
            order = spend(second)  # would wait, then fail with a lock timeout, if it locked or updated any of them
    finally:
        release.set()
        holder.join()
    assert Redemption.objects.filter(order=order).exists()
    books_exact()


def test_a_redemption_does_not_wait_for_another_redemption_of_the_campaign_in_flight():
    campaign = two_way_campaign()
    warm, first, second = packets(campaign, 3)
    spend(warm)
    spent, release = threading.Event(), threading.Event()

    def spend_and_wait():
        with transaction.atomic():
            spend(first)
            spent.set()
            release.wait(30)
        connections.close_all()

    other = threading.Thread(target=spend_and_wait)
    other.start()
    try:
        assert spent.wait(10)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '3s'")
            spend(second)
    finally:
        release.set()
        other.join()
    assert Redemption.objects.count() == 3
    books_exact()


def test_the_budget_balance_counts_its_floats_and_equals_its_entries():
    campaign = two_way_campaign(budget="1000.00")
    for packet in packets(campaign, 5):
        spend(packet)
    budget = campaign_budget_account(campaign)
    assert LedgerAccount.objects.filter(kind=AccountKind.CAMPAIGN_BUDGET, campaign=campaign, shard__gt=0).exists()
    assert budget.balance == D("1000.00") - 5 * D("10.00") - 5 * LEGS
    assert budget.balance == sum_of_entries(budget)
    books_exact()


def test_a_roll_up_changes_no_balance_and_empties_the_tails():
    campaign = two_way_campaign()
    for packet in packets(campaign, 3):
        spend(packet)
    before = {a.pk: a.balance for a in shared_rows(campaign)}
    assert ledger_rollup() > 0
    after = {a.pk: a.balance for a in shared_rows(campaign)}
    assert after == before
    for account in shared_rows(campaign):
        account.refresh_from_db()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM rebates_entry WHERE account_id = %s AND xid >= %s",
                [account.pk, account.watermark],
            )
            assert cursor.fetchone()[0] == 0
    books_exact()


@pytest.mark.parametrize("refill", [1, 20])
def test_a_budget_that_covers_four_redemptions_pays_exactly_four_of_ten_concurrent_ones(settings, refill):
    settings.LEDGER_FLOAT_REFILL_REDEMPTIONS = refill
    campaign = two_way_campaign(budget=str(10 * D("10.00") + 4 * LEGS))
    spendable = packets(campaign, 10)
    errors = run_threads(spend, [(p,) for p in spendable])
    assert len(errors) == 6 and all(isinstance(e, BudgetExhausted) for e in errors)
    assert Redemption.objects.count() == 4
    assert campaign_budget_account(campaign).balance == D("0.00")
    books_exact()


def test_a_buffered_account_is_debited_exactly_as_far_as_it_goes_by_concurrent_debits():
    campaign = two_way_campaign(budget="0.00")
    deposit = ledger_account(kind=AccountKind.MERCHANT_DEPOSIT, merchant_id=campaign.merchant_id)
    merchant_deposit(merchant=campaign.merchant, amount=D("10.00"), idempotency_key="in")
    sink = campaign_budget_account(campaign)
    outcomes: list[str] = []

    def debit(i: int):
        transfer(source=deposit, destination=sink, amount=D("1.00"), kind="t", idempotency_key=f"d{i}", reference="r")
        outcomes.append("ok")

    errors = run_threads(debit, [(i,) for i in range(20)])
    assert outcomes.count("ok") == 10 and len(errors) == 10
    assert deposit.balance == D("0.00") and sink.balance == D("10.00")
    books_exact()


def _race_once(campaign, spendable: list[Packet], spent: list[Order]):
    """Redemptions, a refund of an earlier order (its rebates reversed, its packet reissued: a checked deposit debit),
    the worker crediting, and roll-ups, all at once."""

    def redeem(packet):
        spend(packet)

    def refund(order):
        order_refund(order=order, amount=order.gross_amount)

    def credit(redemption_id):
        rebates_credit_for_redemption(redemption_id=redemption_id)

    def rollups():
        for _ in range(5):
            ledger_rollup()

    jobs = [(redeem, p) for p in spendable]
    jobs += [(refund, o) for o in spent]
    jobs += [(credit, r) for r in Redemption.objects.filter(rebates__isnull=True).values_list("pk", flat=True)]
    jobs += [(lambda _: rollups(), None)]
    errors = run_threads(lambda fn, arg: fn(arg), jobs)
    return errors


def test_redemptions_refunds_credits_and_roll_ups_race_without_deadlock_and_keep_the_books_exact():
    campaign = two_way_campaign(budget="5000.00")
    for run in range(20):
        spent = [spend(p) for p in packets(campaign, 2)]
        for order in spent[:1]:
            rebates_credit_for_redemption(redemption_id=order.redemption.pk)
        errors = _race_once(campaign, packets(campaign, 6), spent)
        assert errors == [], f"run {run}: {errors!r}"
        budget = campaign_budget_account(campaign)
        assert budget.balance == sum_of_entries(budget)
    books_exact()


def budget_row_debits(campaign) -> int:
    """Redemptions that debited the budget's own row (held to COMMIT) instead of one of its floats."""
    return Entry.objects.filter(
        account=campaign_budget_account(campaign), transaction__kind="redemption", amount__lt=0
    ).count()


def test_more_concurrent_redemptions_than_floats_wait_on_a_float_not_on_the_budget_row(settings):
    settings.LEDGER_FLOATS = 2
    campaign = two_way_campaign(budget="5000.00")
    errors = run_threads(spend, [(p,) for p in packets(campaign, 10)])  # creates the two floats
    assert errors == []
    before = budget_row_debits(campaign)
    for run in range(20):
        errors = run_threads(spend, [(p,) for p in packets(campaign, 10)])
        assert errors == [], f"run {run}: {errors!r}"
    assert budget_row_debits(campaign) == before
    assert Redemption.objects.count() == 210
    assert LedgerAccount.objects.filter(kind=AccountKind.CAMPAIGN_BUDGET, campaign=campaign, shard__gt=0).count() == 2
    budget = campaign_budget_account(campaign)
    assert budget.balance == sum_of_entries(budget) == D("5000.00") - 210 * (D("10.00") + LEGS)  # packet + legs
    books_exact()
