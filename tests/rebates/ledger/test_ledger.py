import threading
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import DatabaseError, IntegrityError, connection, connections, transaction

from rebates.errors import IdempotencyMismatch, InsufficientFunds, LedgerError
from rebates.ledger import Posting, ledger_account, ledger_post, platform_account, transfer
from rebates.models import AccountKind, Entry, LedgerAccount
from tests.factories.accounts import MerchantFactory, UserFactory

D = Decimal


def fund_wallet(user, amount: str, key: str = "fund") -> LedgerAccount:
    wallet = ledger_account(kind=AccountKind.SHOPPER_CASH, user_id=user.pk)
    transfer(
        source=platform_account(AccountKind.PLATFORM_EXTERNAL),
        destination=wallet,
        amount=D(amount),
        kind="deposit",
        idempotency_key=key,
        reference="test",
    )
    wallet.refresh_from_db()
    return wallet


@pytest.mark.django_db(transaction=True)
def test_unbalanced_transaction_inserted_with_raw_sql_fails_at_commit():
    account = ledger_account(kind=AccountKind.SHOPPER_CASH, user_id=UserFactory().pk)
    with pytest.raises(IntegrityError, match="unbalanced"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO rebates_ledgertransaction (kind, idempotency_key, reference, memo, created_at)"
                " VALUES ('raw', 'raw-1', 'test', '', now()) RETURNING id"
            )
            txn_id = cursor.fetchone()[0]
            cursor.execute(
                "INSERT INTO rebates_entry (transaction_id, account_id, amount) VALUES (%s, %s, 5.00)",
                [txn_id, account.pk],
            )
    assert not Entry.objects.exists()
    account.refresh_from_db()
    assert account.balance == D("0.00")


@pytest.mark.django_db(transaction=True)
def test_balanced_raw_sql_commits_and_moves_balances():
    user = UserFactory()
    wallet = ledger_account(kind=AccountKind.SHOPPER_CASH, user_id=user.pk)
    external = platform_account(AccountKind.PLATFORM_EXTERNAL)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO rebates_ledgertransaction (kind, idempotency_key, reference, memo, created_at)"
            " VALUES ('raw', 'raw-2', 'test', '', now()) RETURNING id"
        )
        txn_id = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO rebates_entry (transaction_id, account_id, amount) VALUES (%s, %s, 5.00), (%s, %s, -5.00)",
            [txn_id, wallet.pk, txn_id, external.pk],
        )
    wallet.refresh_from_db()
    assert wallet.balance == D("5.00")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("statement", ["UPDATE rebates_entry SET amount = amount * 2", "DELETE FROM rebates_entry"])
def test_entries_refuse_update_and_delete(statement):
    fund_wallet(UserFactory(), "10.00")
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert sorted(Entry.objects.values_list("amount", flat=True)) == [D("-10.00"), D("10.00")]


@pytest.mark.django_db(transaction=True)
def test_database_refuses_negative_balance_on_non_negative_account_even_with_raw_sql():
    wallet = fund_wallet(UserFactory(), "1.00")
    external = platform_account(AccountKind.PLATFORM_EXTERNAL)
    with pytest.raises(IntegrityError, match="ledger_account_non_negative"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO rebates_ledgertransaction (kind, idempotency_key, reference, memo, created_at)"
                " VALUES ('raw', 'raw-3', 'test', '', now()) RETURNING id"
            )
            txn_id = cursor.fetchone()[0]
            cursor.execute(
                "INSERT INTO rebates_entry (transaction_id, account_id, amount) VALUES (%s, %s, -2.00), (%s, %s, 2.00)",
                [txn_id, wallet.pk, txn_id, external.pk],
            )
    wallet.refresh_from_db()
    assert wallet.balance == D("1.00")


@pytest.mark.django_db
def test_post_refuses_unbalanced_postings_before_touching_the_database():
    wallet = ledger_account(kind=AccountKind.SHOPPER_CASH, user_id=UserFactory().pk)
    external = platform_account(AccountKind.PLATFORM_EXTERNAL)
    with pytest.raises(LedgerError, match="do not balance"):
        ledger_post(
            kind="t",
            idempotency_key="k",
            reference="r",
            postings=[Posting(wallet, D("1.00")), Posting(external, D("-0.99"))],
        )
    assert not Entry.objects.exists()


@pytest.mark.django_db
def test_post_refuses_fractional_fen_and_fractional_points():
    user = UserFactory()
    wallet = ledger_account(kind=AccountKind.SHOPPER_CASH, user_id=user.pk)
    external = platform_account(AccountKind.PLATFORM_EXTERNAL)
    with pytest.raises(LedgerError, match="whole CNY"):
        transfer(source=external, destination=wallet, amount=D("1.005"), kind="t", idempotency_key="a", reference="r")
    points = ledger_account(kind=AccountKind.SHOPPER_POINTS, currency="POINTS", user_id=user.pk)
    external_points = platform_account(AccountKind.PLATFORM_EXTERNAL, "POINTS")
    with pytest.raises(LedgerError, match="whole POINTS"):
        transfer(
            source=external_points, destination=points, amount=D("1.5"), kind="t", idempotency_key="b", reference="r"
        )


@pytest.mark.django_db
def test_balances_must_balance_per_currency_not_in_total():
    user = UserFactory()
    wallet = ledger_account(kind=AccountKind.SHOPPER_CASH, user_id=user.pk)
    points = ledger_account(kind=AccountKind.SHOPPER_POINTS, currency="POINTS", user_id=user.pk)
    with pytest.raises(LedgerError, match="do not balance"):
        ledger_post(
            kind="t",
            idempotency_key="mixed",
            reference="r",
            postings=[Posting(wallet, D("-0.00") + D("1.00")), Posting(points, D("-1"))],
        )


@pytest.mark.django_db
def test_repeated_idempotency_key_posts_once():
    user = UserFactory()
    fund_wallet(user, "3.00", key="same")
    wallet = fund_wallet(user, "3.00", key="same")
    assert wallet.balance == D("3.00")
    assert Entry.objects.count() == 2


@pytest.mark.django_db
def test_same_key_with_other_postings_is_refused():
    user = UserFactory()
    fund_wallet(user, "3.00", key="k1")
    with pytest.raises(IdempotencyMismatch):
        fund_wallet(user, "4.00", key="k1")


@pytest.mark.django_db
def test_debit_beyond_balance_raises_insufficient_funds_and_writes_nothing():
    user = UserFactory()
    wallet = fund_wallet(user, "1.00")
    with pytest.raises(InsufficientFunds):
        transfer(
            source=wallet,
            destination=platform_account(AccountKind.PLATFORM_EXTERNAL),
            amount=D("1.01"),
            kind="withdraw",
            idempotency_key="w",
            reference="r",
        )
    wallet.refresh_from_db()
    assert wallet.balance == D("1.00")
    assert Entry.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_200_concurrent_debits_against_100_yuan_give_exactly_100_successes():
    wallet = fund_wallet(UserFactory(), "100.00")
    sink = ledger_account(kind=AccountKind.MERCHANT_DEPOSIT, merchant_id=MerchantFactory().pk)
    outcomes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(20)

    def worker(offset: int):
        start.wait()
        try:
            for i in range(offset, 200, 20):
                try:
                    transfer(
                        source=wallet,
                        destination=sink,
                        amount=D("1.00"),
                        kind="debit",
                        idempotency_key=f"debit-{i}",
                        reference="race",
                    )
                    result = "ok"
                except InsufficientFunds:
                    result = "insufficient"
                with lock:
                    outcomes.append(result)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wallet.refresh_from_db()
    assert outcomes.count("ok") == 100
    assert outcomes.count("insufficient") == 100
    assert wallet.balance == D("0.00")
    call_command("audit")


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_with_one_key_post_once():
    user = UserFactory()
    wallet = ledger_account(kind=AccountKind.SHOPPER_CASH, user_id=user.pk)
    external = platform_account(AccountKind.PLATFORM_EXTERNAL)
    created = []
    start = threading.Barrier(10)

    def worker():
        start.wait()
        try:
            _, was_created = transfer(
                source=external, destination=wallet, amount=D("2.00"), kind="t", idempotency_key="dup", reference="r"
            )
            created.append(was_created)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wallet.refresh_from_db()
    assert sorted(created) == [False] * 9 + [True]
    assert wallet.balance == D("2.00")
