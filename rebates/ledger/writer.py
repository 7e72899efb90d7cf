"""The one writer of the ledger. Nothing else in the project creates entries.

`ledger_post` records a balanced, idempotent transaction: the same idempotency key posts once, whoever retries.
Non-negative accounts are checked under their row locks before the insert (a clear error), and the database
CHECK constraint stands behind that check.
"""

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from common.money import CNY, quantize

from ..errors import IdempotencyMismatch, InsufficientFunds, LedgerError
from ..lock_objects import ledger_accounts_lock
from ..models import NEGATIVE_ALLOWED, POSTING_MODE_BY_KIND, Entry, LedgerAccount, LedgerTransaction, PostingMode


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
    """The account of one owner and kind, created on first use (race-safe through the unique constraint).

    A process keeps what it has seen (an account's identity never changes), but only once the row is committed:
    an id cached from a transaction that then rolls back would name a row that never existed."""
    owner = (kind, currency, user_id, merchant_id, campaign_id)
    cached = _ACCOUNTS.get(owner)
    if cached is not None:
        return LedgerAccount(
            pk=cached[0],
            kind=kind,
            currency=currency,
            user_id=user_id,
            merchant_id=merchant_id,
            campaign_id=campaign_id,
            posting_mode=cached[1],
            allow_negative=cached[2],
        )
    account, _ = LedgerAccount.objects.get_or_create(
        kind=kind,
        currency=currency,
        user_id=user_id,
        merchant_id=merchant_id,
        campaign_id=campaign_id,
        shard=0,
        defaults={
            "allow_negative": kind in NEGATIVE_ALLOWED,
            "posting_mode": POSTING_MODE_BY_KIND.get(kind, PostingMode.LIVE),
        },
    )
    _MODES.setdefault(account.pk, (account.posting_mode, account.allow_negative))
    if account.posting_mode != PostingMode.LIVE and (user_id or merchant_id or campaign_id):
        # Cached: the hot accounts of campaigns and merchants. Not LIVE ones (callers read the stored balance their
        # object carries) nor the few platform rows (one per kind; a test database recreates them under new ids).
        facts = (account.pk, account.posting_mode, account.allow_negative)
        transaction.on_commit(lambda: _ACCOUNTS.setdefault(owner, facts))
    return account


_ACCOUNTS: dict[tuple, tuple] = {}


# An account's posting mode and sign rule never change after its row exists, so a process may keep them. Filled only
# from rows this process has read, so never with an id whose row might still be rolled back.
_MODES: dict[int, tuple[str, bool]] = {}


def _modes(account_ids) -> dict[int, tuple[str, bool]]:
    missing = [pk for pk in account_ids if pk not in _MODES]
    if missing:
        for pk, mode, negative in LedgerAccount.objects.filter(pk__in=missing).values_list(
            "pk", "posting_mode", "allow_negative"
        ):
            _MODES[pk] = (mode, negative)
    return {pk: _MODES[pk] for pk in account_ids}


def ledger_accounts_many(owners: Sequence[tuple[str, str, int | None, int | None, int | None]]) -> dict:
    """`ledger_account` for many (kind, currency, user id, merchant id, campaign id) at once, in two statements:
    create the missing ones (race-safe: ON CONFLICT), then read them all. Keyed by that tuple."""
    wanted = sorted(set(owners), key=str)
    if not wanted:
        return {}
    columns = list(zip(*wanted, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO rebates_ledgeraccount
                   (kind, currency, user_id, merchant_id, campaign_id, balance, allow_negative, posting_mode,
                    watermark, shard, created_at)
               SELECT k, c, u, m, g, 0, k = ANY(%s), COALESCE((%s::jsonb) ->> k, 'live'), 0, 0, now()
                 FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::bigint[], %s::bigint[]) AS t(k, c, u, m, g)
               ON CONFLICT DO NOTHING""",
            [
                [str(k) for k in NEGATIVE_ALLOWED],
                json.dumps({str(k): str(v) for k, v in POSTING_MODE_BY_KIND.items()}),
                *(list(column) for column in columns),
            ],
        )
    found = LedgerAccount.objects.filter(shard=0, kind__in=set(columns[0])).filter(
        Q(user_id__in=[u for u in columns[2] if u]) | Q(merchant_id__in=[m for m in columns[3] if m])
    )
    accounts = {(a.kind, a.currency, a.user_id, a.merchant_id, a.campaign_id): a for a in found}
    for account in accounts.values():
        _MODES.setdefault(account.pk, (account.posting_mode, account.allow_negative))
    return {owner: accounts[owner] for owner in wanted}


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

    # Lock what must be locked, once, in primary-key order: LIVE rows (the trigger updates them anyway) and the debits
    # of BUFFERED accounts that may not go negative. A credit to a BUFFERED account and any PASS_THROUGH posting lock
    # nothing: that is what keeps a campaign's shared accounts out of each redemption's way.
    # An account handed in with `locked_balance` (a float just claimed) is already locked by this transaction.
    modes = _modes([p.account.pk for p in lines])
    held = {p.account.pk: p.account for p in lines if getattr(p.account, "locked_balance", None) is not None}
    to_lock = [
        p.account.pk
        for p in lines
        if p.account.pk not in held
        and (
            modes[p.account.pk][0] == PostingMode.LIVE
            or (modes[p.account.pk][0] == PostingMode.BUFFERED and p.amount < 0 and not modes[p.account.pk][1])
        )
    ]
    locked = {**held, **(ledger_accounts_lock(to_lock) if to_lock else {})}
    for p in lines:
        account = locked.get(p.account.pk)
        if account is not None and not account.allow_negative and account.balance + p.amount < 0:
            raise InsufficientFunds(account.pk)
    txn = LedgerTransaction(pk=row[0], kind=kind, idempotency_key=idempotency_key, reference=reference, memo=memo)
    Entry.objects.bulk_create([Entry(transaction_id=txn.pk, account_id=p.account.pk, amount=p.amount) for p in lines])
    return txn, True


class BatchConflict(LedgerError):
    """A key of the batch was already used: the caller falls back to posting one at a time."""


@transaction.atomic
def ledger_post_many(*, kind: str, items: Sequence[tuple[str, str, Sequence[Posting]]]) -> dict[str, int]:
    """Post many balanced transactions — (idempotency key, reference, postings) each — in a fixed number of
    statements: one INSERT of the transactions, one lock of the accounts (primary-key order), one INSERT of the
    entries. Same rules as `ledger_post`, checked over the whole batch; any key already used raises BatchConflict
    and writes nothing (the caller then posts one at a time, where a replay is answered per key).
    Returns {idempotency key: transaction id}."""
    if not items:
        return {}
    validated = [(key, reference, _validated(postings)) for key, reference, postings in items]
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO rebates_ledgertransaction (kind, idempotency_key, reference, memo, created_at)
               SELECT %s, k, r, '', now() FROM unnest(%s::text[], %s::text[]) AS t(k, r)
               ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, idempotency_key""",
            [kind, [k for k, _, _ in validated], [r for _, r, _ in validated]],
        )
        ids = {key: pk for pk, key in cursor.fetchall()}
    if len(ids) != len(validated):
        raise BatchConflict(_("A ledger key of this batch was already used."))
    net: dict[int, Decimal] = defaultdict(Decimal)
    for _key, _kind, lines in validated:
        for p in lines:
            net[p.account.pk] += p.amount
    modes = _modes(list(net))
    to_lock = [
        pk
        for pk, change in net.items()
        if modes[pk][0] == PostingMode.LIVE
        or (modes[pk][0] == PostingMode.BUFFERED and change < 0 and not modes[pk][1])
    ]
    locked = ledger_accounts_lock(to_lock) if to_lock else {}
    for pk, change in net.items():
        account = locked.get(pk)
        if account is not None and not account.allow_negative and account.balance + change < 0:
            raise InsufficientFunds(pk)
    Entry.objects.bulk_create(
        [
            Entry(transaction_id=ids[key], account_id=p.account.pk, amount=p.amount)
            for key, _, lines in validated
            for p in lines
        ]
    )
    return ids


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


# One roll-up at a time: two would add the same entries twice.
_ROLLUP_LOCK = 0x1ED6_E80B


def ledger_rollup() -> int:
    """Fold the entries of BUFFERED and PASS_THROUGH accounts into their stored balance, up to the oldest transaction
    still running (every transaction below it has finished, so no entry below the new watermark can appear later).
    The balances read before and after are the same; the tails to sum get short again. An account whose roll-up
    would be negative for now (a debit whose transaction id is older than the credit it consumes) waits for the
    next one: the CHECK constraint is never asked to accept it. Returns how many accounts moved."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_ROLLUP_LOCK])
        if not cursor.fetchone()[0]:
            return 0
        cursor.execute(
            """WITH horizon AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xid),
                    tail AS (
                        SELECT a.id, SUM(e.amount) AS moved
                          FROM rebates_ledgeraccount a
                          JOIN rebates_entry e ON e.account_id = a.id AND e.xid >= a.watermark
                                              AND e.xid < (SELECT xid FROM horizon)
                         WHERE a.posting_mode <> 'live'
                         GROUP BY a.id)
               UPDATE rebates_ledgeraccount a
                  SET balance = a.balance + tail.moved, watermark = (SELECT xid FROM horizon)
                 FROM tail
                WHERE a.id = tail.id AND (a.allow_negative OR a.balance + tail.moved >= 0)"""
        )
        return cursor.rowcount
