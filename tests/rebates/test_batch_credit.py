"""The batch credit (issue 13): many redemptions per transaction, a fixed number of statements, exactly once, and a
bad row that cannot hold up the rest."""

import threading
import uuid
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from packets.models import Redemption
from packets.services import LineInput, order_create, order_refund, packet_grant
from rebates.models import OutboxEvent, Rebate
from rebates.services import rebates_credit_batch, rebates_credit_for_redemption
from tests.factories.accounts import UserFactory
from tests.factories.campaigns import two_way_campaign

D = Decimal
pytestmark = pytest.mark.django_db(transaction=True)


def redeemed(campaign, n: int) -> list[Redemption]:
    rule = campaign.earn_rules.get()
    orders = []
    for _ in range(n):
        packet = packet_grant(rule=rule, holder=UserFactory())
        orders.append(
            order_create(
                merchant=campaign.merchant,
                shopper=packet.holder,
                order_no=f"B-{uuid.uuid4().hex[:10]}",
                lines=[LineInput("SKU-1", "Item", "fruit", 1, D("50.00"))],
                gross_amount=D("50.00"),
                packet_code=packet.code,
            )
        )
    return [o.redemption for o in orders]


def due() -> int:
    return OutboxEvent.objects.filter(done_at__isnull=True).count()


def statements_to_credit(n: int) -> int:
    redeemed(two_way_campaign(), n)
    with CaptureQueriesContext(connection) as queries:
        assert rebates_credit_batch(limit=100) == n
    assert due() == 0
    return len(queries)


def test_a_batch_credits_both_legs_of_every_redemption_it_claims():
    redemptions = redeemed(two_way_campaign(), 4)
    assert rebates_credit_batch(limit=100) == 4
    for redemption in redemptions:
        assert sorted(Rebate.objects.filter(redemption=redemption).values_list("role", "amount", "status")) == [
            ("holder", D("2.50"), "credited"),
            ("issuer", D("5.00"), "credited"),
        ]
    assert due() == 0
    call_command("audit")


def test_a_batch_takes_the_same_number_of_statements_for_three_redemptions_as_for_twelve():
    assert statements_to_credit(3) == statements_to_credit(12)
    call_command("audit")


def test_a_batch_claims_at_most_its_limit_and_leaves_the_rest_due():
    redeemed(two_way_campaign(), 5)
    assert rebates_credit_batch(limit=3) == 3
    assert due() == 2
    assert rebates_credit_batch(limit=3) == 2
    assert due() == 0
    call_command("audit")


def test_a_row_that_fails_does_not_hold_up_the_others():
    bad, *good = redeemed(two_way_campaign(), 4)
    Redemption.objects.filter(pk=bad.pk).update(rule_snapshot={"broken": True})
    assert rebates_credit_batch(limit=100) == 4
    assert Rebate.objects.filter(redemption__in=good).count() == 6
    assert not Rebate.objects.filter(redemption=bad).exists()
    assert list(OutboxEvent.objects.filter(done_at__isnull=True).values_list("ref_id", flat=True)) == [bad.pk]


def test_a_redemption_already_credited_one_by_one_is_not_credited_again_by_a_batch():
    first, second = redeemed(two_way_campaign(), 2)
    rebates_credit_for_redemption(redemption_id=first.pk)
    OutboxEvent.objects.filter(ref_id=first.pk).update(done_at=None)  # a duplicate still due (a lost done mark)
    assert rebates_credit_batch(limit=100) == 2
    assert Rebate.objects.filter(redemption=first).count() == 2
    assert Rebate.objects.filter(redemption=second).count() == 2
    call_command("audit")


def test_batches_one_by_one_credits_refunds_and_redemptions_race_without_deadlock_and_credit_exactly_once():
    campaign = two_way_campaign(budget="5000.00")
    for run in range(20):
        existing = redeemed(campaign, 8)
        refunded = existing[:2]
        errors: list[BaseException] = []
        jobs = [lambda: rebates_credit_batch(limit=3) for _ in range(3)]
        jobs += [lambda r=r: rebates_credit_for_redemption(redemption_id=r.pk) for r in existing[2:4]]
        jobs += [lambda r=r: order_refund(order=r.order, amount=D("20.00")) for r in refunded]
        jobs += [lambda: redeemed(campaign, 1) for _ in range(2)]
        start = threading.Barrier(len(jobs))

        def run_job(job):
            start.wait()
            try:
                job()
            except BaseException as exc:  # collected: the test asserts there were none
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=run_job, args=(job,)) for job in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [], f"run {run}: {errors!r}"
        while rebates_credit_batch(limit=100):
            pass
        assert due() == 0
        assert Rebate.objects.count() == 2 * Redemption.objects.count()
        for redemption in refunded:  # the refunded share was taken back, whichever came first
            reversed_amounts = Rebate.objects.filter(redemption=redemption).values_list("reversed_amount", flat=True)
            assert sorted(reversed_amounts) == [D("1.00"), D("2.00")], f"run {run}"
    call_command("audit")
