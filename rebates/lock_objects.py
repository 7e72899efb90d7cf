"""Row locks, always in primary-key order so two transactions never wait on each other in a cycle."""

from collections.abc import Iterable

from django.db import connection

from .models import LedgerAccount, PostingMode


def ledger_accounts_lock(account_ids: Iterable[int]) -> dict[int, LedgerAccount]:
    """Lock the accounts; each answers `.balance` with its exact balance under the lock (a BUFFERED account's own,
    without its floats: only its own row's money is what the lock protects).

    FOR NO KEY UPDATE: it does not wait for transactions that merely reference the row (an entry's foreign key takes
    FOR KEY SHARE), so crediting a BUFFERED account never queues behind its debits."""
    locked = {
        a.pk: a
        for a in LedgerAccount.objects.filter(pk__in=set(account_ids)).order_by("pk").select_for_update(no_key=True)
    }
    buffered = [pk for pk, a in locked.items() if a.posting_mode != PostingMode.LIVE]
    if buffered:
        # A second statement, so its snapshot sees every entry committed by whoever held the lock before us.
        with connection.cursor() as cursor:
            cursor.execute(
                """SELECT a.id, a.balance + COALESCE(SUM(e.amount), 0) FROM rebates_ledgeraccount a
                   LEFT JOIN rebates_entry e ON e.account_id = a.id AND e.xid >= a.watermark
                   WHERE a.id = ANY(%s) GROUP BY a.id""",
                [buffered],
            )
            for pk, live in cursor.fetchall():
                locked[pk].locked_balance = live
    for account in locked.values():
        if account.posting_mode == PostingMode.LIVE:
            account.locked_balance = account.stored_balance
    return locked
