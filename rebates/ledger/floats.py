"""Floats: how many redemptions debit one BUFFERED account (a campaign's budget, the platform pool) at once.

A float is a LIVE account of the same owner and kind with `shard` 1..LEDGER_FLOATS, holding a slice of the
account's money. A redemption claims a float that covers its rebates with `FOR UPDATE SKIP LOCKED`, so it never
waits for another redemption; the float's own balance and the CHECK constraint keep it from going below zero.
When every float that covers it is busy and there are already LEDGER_FLOATS of them, it waits on one (its holder
locks nothing shared after it), not on the account's row. Only when no float covers it does the slow path lock the
account itself and refill one with a share of the account's money (or, when the account's own money is short, bring
every float back first, so the refusal is exact). The account's balance as everyone reads it
(`LedgerAccount.balance`) is its own money plus its floats'.

Lock order, so nothing waits in a cycle: a transaction holding a float never waits for its account's row (it
claims floats only after any account lock it needs); the account's row is taken before its floats (`floats_collect`).
"""

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import connection

from common.money import quantize

from ..errors import InsufficientFunds
from ..lock_objects import ledger_accounts_lock
from ..models import LedgerAccount, PostingMode
from .writer import Posting, ledger_post

_OWNER = """kind = %(kind)s AND currency = %(currency)s AND campaign_id IS NOT DISTINCT FROM %(campaign)s
            AND merchant_id IS NOT DISTINCT FROM %(merchant)s AND user_id IS NOT DISTINCT FROM %(user)s"""


def _owner(account: LedgerAccount) -> dict:
    return {
        "kind": account.kind,
        "currency": account.currency,
        "campaign": account.campaign_id,
        "merchant": account.merchant_id,
        "user": account.user_id,
    }


def _float(pk: int, account: LedgerAccount) -> LedgerAccount:
    return LedgerAccount(
        pk=pk,
        kind=account.kind,
        currency=account.currency,
        campaign_id=account.campaign_id,
        merchant_id=account.merchant_id,
        user_id=account.user_id,
        posting_mode=PostingMode.LIVE,
    )


def float_claim(*, account: LedgerAccount, need: Decimal, spread: int, wait: bool = False) -> LedgerAccount | None:
    """A float of `account` holding at least `need`, locked; None when none is free (or, with `wait`, when none
    covers `need` once its holder has committed). `spread` (a packet id) makes concurrent claims start at different
    floats. Waiting on a float is short (its holder locks nothing shared after it) and leaves the account row alone."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT id, balance FROM rebates_ledgeraccount WHERE {_OWNER} AND shard > 0 AND balance >= %(need)s
                ORDER BY (shard + %(spread)s) %% %(floats)s, shard LIMIT 1
                FOR NO KEY UPDATE{"" if wait else " SKIP LOCKED"}""",
            {**_owner(account), "need": need, "spread": spread, "floats": settings.LEDGER_FLOATS},
        )
        row = cursor.fetchone()
    if row is None:
        return None
    claimed = _float(row[0], account)
    claimed.locked_balance = row[1]  # read under the lock just taken: `ledger_post` need not lock it again
    return claimed


def floats_collect(account: LedgerAccount) -> Decimal:
    """Bring every float's money back to `account` (whose row the caller holds locked); returns the account's own
    balance after it. Waits for redemptions that hold a float: they hold nothing this transaction holds."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT id, balance FROM rebates_ledgeraccount WHERE {_OWNER} AND shard > 0
                ORDER BY id FOR NO KEY UPDATE""",
            _owner(account),
        )
        floats = [(pk, balance) for pk, balance in cursor.fetchall() if balance > 0]
    locked = ledger_accounts_lock([account.pk])[account.pk]
    if floats:
        total = sum((balance for _, balance in floats), Decimal("0.00"))
        ledger_post(
            kind="float_collect",
            idempotency_key=f"float-collect:{account.pk}:{uuid.uuid4().hex}",
            reference=f"account:{account.pk}",
            postings=[*(Posting(_float(pk, account), -balance) for pk, balance in floats), Posting(account, total)],
        )
        return locked.balance + total
    return locked.balance


def float_for_debit(*, account: LedgerAccount, need: Decimal, spread: int) -> LedgerAccount:
    """The account to debit `need` from: a free float that covers it; else a busy one that still covers it once its
    holder commits; else (slow path, under the account's row lock) a float refilled for it, or the account itself.
    Raises InsufficientFunds when account and floats together cannot cover it."""
    claimed = float_claim(account=account, need=need, spread=spread)
    if claimed is None and _floats_count(account) >= settings.LEDGER_FLOATS:
        # No room for another float: waiting for a busy one is shorter than queueing on the account's row.
        claimed = float_claim(account=account, need=need, spread=spread, wait=True)
    if claimed is not None:
        return claimed
    available = ledger_accounts_lock([account.pk])[account.pk].balance
    # Whoever held the row before may have refilled a float for the next redemptions too.
    claimed = float_claim(account=account, need=need, spread=spread)
    if claimed is not None:
        return claimed
    if available < need:
        available = floats_collect(account)
        if available < need:
            raise InsufficientFunds(account.pk)
    target = _free_float(account)
    if target is None:
        return account  # every float busy and short: debit the account itself, whose row this transaction now holds
    # A share of the account's money (and at least a chunk for the next redemptions), so refills stay rare: a
    # refill holds the account's row until this redemption commits.
    share = quantize(available / settings.LEDGER_FLOATS, account.currency)
    chunk = min(available, max(need * settings.LEDGER_FLOAT_REFILL_REDEMPTIONS, share))
    ledger_post(
        kind="float_refill",
        idempotency_key=f"float-refill:{target.pk}:{uuid.uuid4().hex}",
        reference=f"account:{account.pk}",
        postings=[Posting(account, -chunk), Posting(target, chunk)],
    )
    return target


def _floats_count(account: LedgerAccount) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM rebates_ledgeraccount WHERE {_OWNER} AND shard > 0", _owner(account))
        return cursor.fetchone()[0]


def _free_float(account: LedgerAccount) -> LedgerAccount | None:
    """A float nobody holds (locked now), or a new one while there are fewer than LEDGER_FLOATS. The caller holds the
    account's row, so two transactions never create the same shard."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT id FROM rebates_ledgeraccount WHERE {_OWNER} AND shard > 0
                ORDER BY balance, id LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED""",
            _owner(account),
        )
        row = cursor.fetchone()
        if row:
            return _float(row[0], account)
        cursor.execute(f"SELECT COALESCE(MAX(shard), 0) FROM rebates_ledgeraccount WHERE {_OWNER}", _owner(account))
        shard = cursor.fetchone()[0] + 1
        if shard > settings.LEDGER_FLOATS:
            return None
        cursor.execute(
            """INSERT INTO rebates_ledgeraccount
                   (kind, currency, campaign_id, merchant_id, user_id, balance, allow_negative, posting_mode,
                    watermark, shard, created_at)
               VALUES (%(kind)s, %(currency)s, %(campaign)s, %(merchant)s, %(user)s, 0, false, 'live', 0, %(shard)s,
                       now())
               RETURNING id""",
            {**_owner(account), "shard": shard},
        )
        return _float(cursor.fetchone()[0], account)
