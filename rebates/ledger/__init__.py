"""The ledger: its one writer (`writer.py`: accounts, balanced idempotent transactions, the roll-up of buffered
balances), and above it the floats that let many redemptions debit one account at once (`floats.py`) and the
postings every reward shares (`postings.py`: a beneficiary's pockets, paying a debt down first). docs/ARCHITECTURE.md.

The writer's names are importable from `rebates.ledger` itself; floats and postings from their modules (they sit a
layer above the writer, so importing `rebates.ledger` must not pull them in)."""

from .writer import (
    Posting,
    ledger_account,
    ledger_accounts_many,
    ledger_post,
    ledger_post_many,
    ledger_rollup,
    platform_account,
    transfer,
)

__all__ = [
    "Posting",
    "ledger_account",
    "ledger_accounts_many",
    "ledger_post",
    "ledger_post_many",
    "ledger_rollup",
    "platform_account",
    "transfer",
]
