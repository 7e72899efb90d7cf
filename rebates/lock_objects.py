"""Row locks, always in primary-key order so two transactions never wait on each other in a cycle."""

from collections.abc import Iterable

from .models import LedgerAccount


def ledger_accounts_lock(account_ids: Iterable[int]) -> dict[int, LedgerAccount]:
    return {a.pk: a for a in LedgerAccount.objects.filter(pk__in=set(account_ids)).order_by("pk").select_for_update()}
