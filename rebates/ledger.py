"""The one writer of the ledger. Nothing else in the project creates entries.

`ledger_post` records a balanced, idempotent transaction: the same idempotency key posts once, whoever retries.
Non-negative accounts are checked under their row locks before the insert (a clear error), and the database
CHECK constraint stands behind that check.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from django.utils.translation import gettext as _

from common.money import CNY, quantize

from .errors import IdempotencyMismatch, InsufficientFunds, LedgerError
from .lock_objects import ledger_accounts_lock
from .models import NEGATIVE_ALLOWED, Entry, LedgerAccount, LedgerTransaction


@dataclass(frozen=True)
class Posting:
    account: LedgerAccount
    amount: Decimal


def ledger_account(
    *,
    kind: str,
    currency: str = CNY,
    user_id: int | None = None,
    merchant_id: int | None = None,
    campaign_id: int | None = None,
) -> LedgerAccount:
    """The account of one owner and kind, created on first use (race-safe through the unique constraint)."""
    account, _ = LedgerAccount.objects.get_or_create(
        kind=kind,
        currency=currency,
        user_id=user_id,
        merchant_id=merchant_id,
        campaign_id=campaign_id,
        defaults={"allow_negative": kind in NEGATIVE_ALLOWED},
    )
    return account


def platform_account(kind: str, currency: str = CNY) -> LedgerAccount:
    return ledger_account(kind=kind, currency=currency)


def _validated(postings: Sequence[Posting]) -> list[Posting]:
    if len(postings) < 2:
        raise LedgerError(_("A ledger transaction needs at least two postings."))
    merged: dict[int, Decimal] = defaultdict(Decimal)
    accounts: dict[int, LedgerAccount] = {}
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for p in postings:
        if not isinstance(p.amount, Decimal):
            raise LedgerError(_("Ledger amounts must be Decimal."))
        if p.amount != quantize(p.amount, p.account.currency):
            raise LedgerError(
                _("Amount %(amount)s is not a whole %(currency)s unit.")
                % {"amount": p.amount, "currency": p.account.currency}
            )
        merged[p.account.pk] += p.amount
        accounts[p.account.pk] = p.account
        totals[p.account.currency] += p.amount
    unbalanced = {c: t for c, t in totals.items() if t != 0}
    if unbalanced:
        raise LedgerError(_("Postings do not balance: %(unbalanced)s") % {"unbalanced": unbalanced})
    result = [Posting(accounts[pk], amount) for pk, amount in merged.items() if amount != 0]
    if not result:
        raise LedgerError(_("A ledger transaction must move something."))
    return result


def _same_postings(txn: LedgerTransaction, postings: list[Posting]) -> bool:
    stored = sorted(Entry.objects.filter(transaction=txn).values_list("account_id", "amount"))
    return stored == sorted((p.account.pk, p.amount) for p in postings)


@transaction.atomic
def ledger_post(
    *, kind: str, idempotency_key: str, reference: str, postings: Sequence[Posting], memo: str = ""
) -> tuple[LedgerTransaction, bool]:
    """Post a balanced transaction once. Returns (transaction, created). A replay with the same key and the same
    postings returns the original; the same key with other postings is refused."""
    lines = _validated(postings)
    with connection.cursor() as cursor:
        # ON CONFLICT makes a concurrent duplicate wait for the first to commit, then see its row.
        cursor.execute(
            """INSERT INTO rebates_ledgertransaction (kind, idempotency_key, reference, memo, created_at)
               VALUES (%s, %s, %s, %s, now()) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id""",
            [kind, idempotency_key, reference, memo],
        )
        row = cursor.fetchone()
    if row is None:
        existing = LedgerTransaction.objects.get(idempotency_key=idempotency_key)
        if not _same_postings(existing, lines):
            raise IdempotencyMismatch(
                _("Ledger key %(idempotency_key)s was already used for other postings.")
                % {"idempotency_key": repr(idempotency_key)}
            )
        return existing, False

    locked = ledger_accounts_lock(p.account.pk for p in lines)
    for p in lines:
        account = locked[p.account.pk]
        if not account.allow_negative and account.balance + p.amount < 0:
            raise InsufficientFunds(account.pk)
    txn = LedgerTransaction(pk=row[0], kind=kind, idempotency_key=idempotency_key, reference=reference, memo=memo)
    Entry.objects.bulk_create([Entry(transaction_id=txn.pk, account_id=p.account.pk, amount=p.amount) for p in lines])
    return txn, True


def transfer(
    *,
    source: LedgerAccount,
    destination: LedgerAccount,
    amount: Decimal,
    kind: str,
    idempotency_key: str,
    reference: str,
    memo: str = "",
) -> tuple[LedgerTransaction, bool]:
    """A two-posting move of `amount` from `source` to `destination` (same currency)."""
    if amount <= 0:
        raise LedgerError(_("A transfer amount must be positive."))
    return ledger_post(
        kind=kind,
        idempotency_key=idempotency_key,
        reference=reference,
        memo=memo,
        postings=[Posting(source, -amount), Posting(destination, amount)],
    )
