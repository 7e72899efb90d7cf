"""Real threads on real PostgreSQL: many grabbers on one packet, the same person twice at once, grabs against expiry.
Each ends with the project's audit (lucky checks included)."""

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from lucky import errors
from lucky.models import LuckyPacket, LuckyShare
from lucky.services import packet_expire, packet_grab, packet_send
from rebates.ledger import ledger_rollup
from rebates.models import LedgerTransaction
from tests.factories.lucky import cash_of, family

D = Decimal
pytestmark = pytest.mark.django_db(transaction=True)


def run_threads(target, args_list) -> tuple[list, list[BaseException]]:
    results, failures = [], []
    start = threading.Barrier(len(args_list))

    def run(*args):
        start.wait()
        try:
            results.append(target(*args))
        except BaseException as exc:  # collected: the test says which refusals it expects
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=args) for args in args_list]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a grabber is stuck (deadlock?)"
    return results, failures


def grab(packet_id, user):
    return packet_grab(packet=LuckyPacket.objects.get(pk=packet_id), user=user)


def test_thirty_grabbers_on_ten_shares_make_exactly_ten_winners_and_the_sum_is_exact():
    group, members = family(31)
    packet = packet_send(sender=members[0], group=group, kind="random", total=D("200.00"), share_count=10)
    grabbers = members[1:]
    won, refused = run_threads(grab, [(packet.pk, m) for m in grabbers])
    assert len(won) == 10
    assert len(refused) == 20 and all(isinstance(e, errors.LuckyAllGrabbed) for e in refused), refused
    assert len({s.grabbed_by_id for s in won}) == 10
    assert sum(cash_of(m) for m in grabbers) == D("200.00")
    packet.refresh_from_db()
    assert packet.status == LuckyPacket.Status.GRABBED_OUT
    assert LuckyShare.objects.filter(packet=packet, best_luck=True).count() == 1
    ledger_rollup()
    call_command("audit")


def test_one_person_grabbing_five_times_at_once_gets_one_share_paid_once():
    group, members = family(2)
    packet = packet_send(sender=members[0], group=group, kind="random", total=D("50.00"), share_count=5)
    won, refused = run_threads(grab, [(packet.pk, members[1])] * 5)
    assert not refused, refused
    assert len({s.pk for s in won}) == 1
    assert cash_of(members[1]) == won[0].amount
    assert LedgerTransaction.objects.filter(kind="lucky_grab").count() == 1
    call_command("audit")


def test_grabs_racing_the_expiry_each_share_is_grabbed_or_returned_never_both():
    group, members = family(21)
    packet = packet_send(sender=members[0], group=group, kind="random", total=D("100.00"), share_count=20)
    # Due in half a second; grabbers arrive one every 50 ms, so the early ones win, the late ones find it expired,
    # and those around the deadline claim while the expiry locks the free shares.
    LuckyPacket.objects.filter(pk=packet.pk).update(expires_at=timezone.now() + timedelta(milliseconds=500))

    def expire_when_due(_):
        while LuckyPacket.objects.get(pk=packet.pk).expires_at > timezone.now():
            pass
        return packet_expire(packet_id=packet.pk)

    def grab_until_late(user, delay):
        time.sleep(delay)
        try:
            return grab(packet.pk, user)
        except (errors.LuckyExpired, errors.LuckyAllGrabbed):
            return None

    jobs = [(expire_when_due, (None,))] + [(grab_until_late, (m, i * 0.05)) for i, m in enumerate(members[1:])]
    _, failures = run_threads(lambda fn, args: fn(*args), jobs)
    assert not failures, failures
    packet.refresh_from_db()
    assert packet.status == LuckyPacket.Status.EXPIRED
    assert 0 < LuckyShare.objects.filter(packet=packet, grabbed_by__isnull=False).count() < 20
    grabbed = sum(cash_of(m) for m in members[1:])
    assert grabbed + packet.returned_amount == D("100.00")
    assert cash_of(members[0]) == D("400.00") + packet.returned_amount
    assert not LuckyShare.objects.filter(packet=packet, grabbed_by__isnull=True, returned_at__isnull=True).exists()
    ledger_rollup()
    call_command("audit")


def test_two_sends_of_one_person_at_once_respect_the_daily_total(settings):
    settings.LUCKY_DAILY_SEND_LIMIT = D("150.00")
    group, members = family(2)

    def send(_):
        return packet_send(sender=members[0], group=group, kind="random", total=D("100.00"), share_count=2)

    sent, refused = run_threads(send, [(i,) for i in range(4)])
    assert len(sent) == 1
    assert len(refused) == 3 and all(e.code == "daily_limit_reached" for e in refused)


def test_one_person_grabbing_two_packets_at_once_respects_the_daily_receive_cap(settings):
    settings.LUCKY_DAILY_RECEIVE_LIMIT = D("100.00")
    group, members = family(2)
    packets = [
        packet_send(sender=members[0], group=group, kind="equal", total=D("60.00"), share_count=1) for _ in range(3)
    ]
    got, refused = run_threads(grab, [(p.pk, members[1]) for p in packets])
    assert [s.amount for s in got] == [D("60.00")]
    assert len(refused) == 2 and all(e.code == "daily_receive_limit_reached" for e in refused)
    assert cash_of(members[1]) == D("60.00")
    assert LuckyShare.objects.filter(grabbed_by__isnull=False).count() == 1
    ledger_rollup()
    call_command("audit")
