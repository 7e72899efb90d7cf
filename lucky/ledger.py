"""Lucky money's only doorway to the ledger: every money move of a packet is one `ledger_post` from here.

It imports the ledger writer's public names from `rebates.ledger` (the package re-exports them), and only here.

The escrow is ONE platform-wide PASS_THROUGH account: posting to it locks no row (the ledger inserts entries and
`ledger_rollup` folds them into its balance later), so a thousand grabbers of one packet never queue on it. What part
of it belongs to which packet is kept by the packet's share rows: a share is claimed once (row lock + unique
grabber), and each claim posts exactly its own amount out, so no packet can take out more than it put in. The audit
(lucky/audit.py) proves that per packet from the entries."""

from decimal import Decimal

from rebates.errors import InsufficientFunds
from rebates.ledger import Posting, ledger_account, ledger_post
from rebates.models import AccountKind, LedgerAccount

KIND_SEND = "lucky_send"
KIND_GRAB = "lucky_grab"
KIND_RETURN = "lucky_return"

__all__ = ["InsufficientFunds", "cash_wallet", "escrow_account", "post_grab", "post_return", "post_send"]


def escrow_account() -> LedgerAccount:
    return ledger_account(kind=AccountKind.LUCKY_ESCROW)


def cash_wallet(user_id: int) -> LedgerAccount:
    return ledger_account(kind=AccountKind.SHOPPER_CASH, user_id=user_id)


def post_send(*, packet_id: int, sender_id: int, total: Decimal) -> None:
    """Sender's cash → escrow. Raises InsufficientFunds (the wallet is checked under its row lock)."""
    ledger_post(
        kind=KIND_SEND,
        idempotency_key=f"lucky:send:{packet_id}",
        reference=f"lucky_packet:{packet_id}",
        postings=[Posting(cash_wallet(sender_id), -total), Posting(escrow_account(), total)],
    )


def post_grab(*, packet_id: int, grabber_id: int, amount: Decimal, campaign_id: int | None = None) -> None:
    """Escrow → grabber's cash, once per packet and grabber (the key), whoever retries. For a spendable packet
    (`campaign_id`): escrow → the campaign's packets-outstanding account, which the share's red packet is now part of
    (spending it pays the merchant from there; its unused value returns to the sender's cash, its funding account)."""
    if campaign_id is None:
        destination = cash_wallet(grabber_id)
    else:
        destination = ledger_account(kind=AccountKind.PACKETS_OUTSTANDING, campaign_id=campaign_id)
    ledger_post(
        kind=KIND_GRAB,
        idempotency_key=f"lucky:grab:{packet_id}:{grabber_id}",
        reference=f"lucky_packet:{packet_id}",
        postings=[Posting(escrow_account(), -amount), Posting(destination, amount)],
    )


def post_return(*, packet_id: int, sender_id: int, amount: Decimal) -> None:
    """The unclaimed rest → back to the sender, one transaction per packet."""
    ledger_post(
        kind=KIND_RETURN,
        idempotency_key=f"lucky:return:{packet_id}",
        reference=f"lucky_packet:{packet_id}",
        postings=[Posting(escrow_account(), -amount), Posting(cash_wallet(sender_id), amount)],
    )
