"""The postings every reward shares, whoever pays it (a packet's rebates, referral, trial, feedback, milestone
rewards): where a beneficiary's reward lives (its pockets), locking what a step touches, and crediting a reward so
that any debt is paid down first."""

from dataclasses import dataclass
from decimal import Decimal

from common.money import ZERO

from ..lock_objects import ledger_accounts_lock
from ..models import AccountKind, LedgerAccount
from .writer import Posting, ledger_account


@dataclass(frozen=True)
class Pockets:
    """Where one rebate lives: its beneficiary's available, pending and debt accounts, in its currency."""

    available: LedgerAccount
    pending: LedgerAccount
    debt: LedgerAccount


def beneficiary_pockets(
    *, role: str, form: str, currency: str, user_id: int | None, merchant_id: int | None
) -> Pockets:
    """A merchant issuer's rewards are marketing credit; a shopper's are points or cash."""
    if role == "issuer" and merchant_id:
        kinds = (
            AccountKind.MERCHANT_MARKETING_CREDIT,
            AccountKind.MERCHANT_CREDIT_PENDING,
            AccountKind.MERCHANT_DEBT,
        )
        owner = {"merchant_id": merchant_id}
    elif form == "points":
        kinds = (AccountKind.SHOPPER_POINTS, AccountKind.SHOPPER_POINTS_PENDING, AccountKind.SHOPPER_DEBT)
        owner = {"user_id": user_id}
    else:
        kinds = (AccountKind.SHOPPER_CASH, AccountKind.SHOPPER_CASH_PENDING, AccountKind.SHOPPER_DEBT)
        owner = {"user_id": user_id}
    return Pockets(*(ledger_account(kind=kind, currency=currency, **owner) for kind in kinds))


def ledger_balances_lock(accounts) -> dict[int, Decimal]:
    """Lock every account a step will touch, once, in primary-key order (no deadlocks); their balances."""
    return {pk: a.balance for pk, a in ledger_accounts_lock(a.pk for a in accounts).items()}


def postings_into_available(pockets: Pockets, units: Decimal, balances: dict[int, Decimal]) -> list[Posting]:
    """Credit `units` to the available account, paying down any debt first."""
    owed = -balances[pockets.debt.pk]
    repay = min(units, owed) if owed > 0 else ZERO
    postings = []
    if repay:
        postings.append(Posting(pockets.debt, repay))
        balances[pockets.debt.pk] += repay
    if units - repay:
        postings.append(Posting(pockets.available, units - repay))
    return postings
