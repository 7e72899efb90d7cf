"""Sending, grabbing, settling and expiring a lucky packet, through the services; books checked by the audit."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from lucky import errors
from lucky.audit import lucky_audit
from lucky.ledger import escrow_account
from lucky.models import LuckyPacket, LuckyShare
from lucky.services import packet_expire, packet_grab, packet_send, packet_settle, packets_expire_due
from rebates.audit import run_audit
from rebates.models import Entry, LedgerTransaction, PostingMode
from tests.factories.accounts import UserFactory
from tests.factories.lucky import cash_of, family, fund_cash

D = Decimal
pytestmark = pytest.mark.django_db


def send(sender, group, total="200.00", n=10, kind=LuckyPacket.Kind.RANDOM):
    return packet_send(sender=sender, group=group, kind=kind, total=D(total), share_count=n, message="新年快乐")


def test_sending_moves_the_total_from_the_senders_cash_into_the_escrow_and_splits_it():
    group, (owner, *_) = family(5)
    packet = send(owner, group)
    assert cash_of(owner) == D("300.00")
    assert sum(packet.shares.values_list("amount", flat=True)) == D("200.00")
    assert packet.shares.count() == 10 and packet.shares.filter(amount__lt=D("0.01")).count() == 0
    assert escrow_account().posting_mode == PostingMode.PASS_THROUGH
    assert packet.expires_at - packet.created_at == timedelta(hours=24)


def test_equal_shares_are_equal():
    group, (owner, *_) = family(3)
    packet = send(owner, group, "30.00", 3, LuckyPacket.Kind.EQUAL)
    assert list(packet.shares.values_list("amount", flat=True)) == [D("10.00")] * 3


def test_a_packet_to_one_person_is_grabbed_only_by_them():
    sender, recipient, stranger = UserFactory(), UserFactory(), UserFactory()
    fund_cash(sender, "10.00")
    packet = packet_send(
        sender=sender, recipient=recipient, kind=LuckyPacket.Kind.EQUAL, total=D("8.88"), share_count=1
    )
    with pytest.raises(errors.LuckyNotAMember):
        packet_grab(packet=packet, user=stranger)
    assert packet_grab(packet=packet, user=recipient).amount == D("8.88")
    assert cash_of(recipient) == D("8.88")


def test_each_member_grabs_once_and_a_second_grab_returns_the_same_share(django_capture_on_commit_callbacks):
    group, members = family(4)
    packet = send(members[0], group, "10.00", 3)
    with django_capture_on_commit_callbacks(execute=True):
        first = packet_grab(packet=packet, user=members[1])
        again = packet_grab(packet=packet, user=members[1])
    assert again.pk == first.pk
    assert cash_of(members[1]) == first.amount
    assert LedgerTransaction.objects.filter(kind="lucky_grab").count() == 1


def test_the_last_share_closes_the_packet_and_marks_the_best_luck_and_the_next_is_too_late(
    django_capture_on_commit_callbacks,
):
    group, members = family(5)
    packet = send(members[0], group, "10.00", 3)
    with django_capture_on_commit_callbacks(execute=True):
        shares = [packet_grab(packet=packet, user=m) for m in members[1:4]]
    packet.refresh_from_db()
    assert packet.status == LuckyPacket.Status.GRABBED_OUT
    best = LuckyShare.objects.get(packet=packet, best_luck=True)
    assert best.amount == max(s.amount for s in shares)
    assert sum(cash_of(m) for m in members[1:4]) == D("10.00")
    with pytest.raises(errors.LuckyAllGrabbed) as refused:
        packet_grab(packet=packet, user=members[4])
    assert refused.value.code == "all_grabbed"
    assert lucky_audit() == {k: [] for k in lucky_audit()}


def test_a_grab_of_a_settled_packet_is_too_late_without_locking_or_claiming(django_capture_on_commit_callbacks):
    group, members = family(4)
    packet = send(members[0], group, "1.00", 2)
    with django_capture_on_commit_callbacks(execute=True):
        first = packet_grab(packet=packet, user=members[1])
        packet_grab(packet=packet, user=members[2])
    packet.refresh_from_db()
    with CaptureQueriesContext(connection) as statements, pytest.raises(errors.LuckyAllGrabbed):
        packet_grab(packet=packet, user=members[3])
    sql = " ".join(q["sql"] for q in statements.captured_queries)
    assert "SKIP LOCKED" not in sql and "pg_advisory_xact_lock" not in sql
    # A grabber who holds a share still gets it back from a settled packet.
    assert packet_grab(packet=packet, user=members[1]).pk == first.pk


def test_settling_is_a_no_op_while_shares_are_free_and_after_the_first_time(django_capture_on_commit_callbacks):
    group, members = family(3)
    packet = send(members[0], group, "1.00", 2)
    packet_grab(packet=packet, user=members[1])
    assert packet_settle(packet_id=packet.pk) is False
    packet_grab(packet=packet, user=members[2])
    assert packet_settle(packet_id=packet.pk) is True
    assert packet_settle(packet_id=packet.pk) is False
    assert LuckyShare.objects.filter(packet=packet, best_luck=True).count() == 1


def expire_now(packet):
    LuckyPacket.objects.filter(pk=packet.pk).update(expires_at=timezone.now() - timedelta(seconds=1))


def test_expiry_returns_what_nobody_grabbed_in_one_transaction_and_twice_is_once():
    group, members = family(3)
    packet = send(members[0], group, "100.00", 5)
    grabbed = packet_grab(packet=packet, user=members[1])
    expire_now(packet)
    assert packets_expire_due() == 1
    assert packet_expire(packet_id=packet.pk) == D("0.00")  # a second run: nothing more
    packet.refresh_from_db()
    assert packet.status == LuckyPacket.Status.EXPIRED
    assert packet.returned_amount == D("100.00") - grabbed.amount
    assert cash_of(members[0]) == D("400.00") + packet.returned_amount
    assert LedgerTransaction.objects.filter(kind="lucky_return").count() == 1
    with pytest.raises(errors.LuckyExpired):
        packet_grab(packet=packet, user=members[2])
    assert all(not findings for findings in run_audit().values())


def test_a_packet_not_due_is_not_expired():
    group, members = family(2)
    packet = send(members[0], group, "5.00", 2)
    assert packets_expire_due() == 0
    assert packet_expire(packet_id=packet.pk) == D("0.00")
    assert LuckyPacket.objects.get(pk=packet.pk).status == LuckyPacket.Status.OPEN


@pytest.mark.parametrize(
    "total, n, code",
    [
        ("200.01", 10, "total_too_large"),
        ("10.00", 0, "share_count_out_of_range"),
        ("10.00", 101, "share_count_out_of_range"),
        ("0.09", 10, "total_below_one_fen_each"),
    ],
)
def test_limits_refuse_and_write_nothing(total, n, code):
    group, (owner, *_) = family(2)
    before = (LuckyPacket.objects.count(), Entry.objects.count())
    with pytest.raises(errors.LuckyLimitExceeded) as refused:
        send(owner, group, total, n)
    assert refused.value.code == code
    assert (LuckyPacket.objects.count(), Entry.objects.count()) == before


def test_the_daily_total_counts_todays_packets(settings):
    settings.LUCKY_DAILY_SEND_LIMIT = D("300.00")
    group, (owner, *_) = family(2)
    send(owner, group, "200.00")
    with pytest.raises(errors.LuckyLimitExceeded) as refused:
        send(owner, group, "100.01")
    assert refused.value.code == "daily_limit_reached"
    send(owner, group, "100.00")


def test_a_sender_without_funds_is_refused_and_nothing_is_written():
    group, (owner, *_) = family(2, owner_cash="5.00")
    before = (LuckyPacket.objects.count(), LuckyShare.objects.count(), LedgerTransaction.objects.count())
    with pytest.raises(errors.LuckyNoFunds):
        send(owner, group, "5.01", 2)
    assert (LuckyPacket.objects.count(), LuckyShare.objects.count(), LedgerTransaction.objects.count()) == before


def test_a_non_member_can_neither_send_to_nor_grab_from_a_group():
    group, members = family(2)
    outsider = UserFactory()
    fund_cash(outsider, "50.00")
    with pytest.raises(errors.LuckyNotAMember):
        send(outsider, group, "5.00", 2)
    packet = send(members[0], group, "5.00", 2)
    with pytest.raises(errors.LuckyNotAMember):
        packet_grab(packet=packet, user=outsider)
    assert not LuckyShare.objects.filter(grabbed_by=outsider).exists()


def test_the_audit_finds_a_share_paid_without_its_row():
    group, members = family(2)
    packet = send(members[0], group, "5.00", 2)
    packet_grab(packet=packet, user=members[1])
    LuckyShare.objects.filter(packet=packet, grabbed_by=members[1]).update(grabbed_by=None, grabbed_at=None)
    findings = lucky_audit()["lucky packets: escrow in = shares grabbed + returned"]
    assert findings and f"lucky packet {packet.pk}" in findings[0]
