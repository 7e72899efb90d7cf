"""Lucky money worlds: a group of people with money in their cash wallets."""

import uuid
from decimal import Decimal

from lucky.services import group_create, group_join
from rebates.ledger import ledger_account, platform_account, transfer
from rebates.models import AccountKind
from tests.factories.accounts import UserFactory


def fund_cash(user, amount: str) -> None:
    """Top up a person's cash wallet from outside the platform (as a withdrawal's reverse would)."""
    transfer(
        source=platform_account(AccountKind.PLATFORM_EXTERNAL),
        destination=ledger_account(kind=AccountKind.SHOPPER_CASH, user_id=user.pk),
        amount=Decimal(amount),
        kind="test_top_up",
        idempotency_key=f"test-top-up:{uuid.uuid4().hex}",
        reference=f"user:{user.pk}",
    )


def cash_of(user) -> Decimal:
    return ledger_account(kind=AccountKind.SHOPPER_CASH, user_id=user.pk).balance


def family(size: int, *, owner_cash: str = "500.00"):
    """A group of `size` (its owner first), the owner funded."""
    owner = UserFactory()
    group = group_create(owner=owner, name="Family")
    members = [owner]
    for _ in range(size - 1):
        member = UserFactory()
        group_join(user=member, invite_token=group.invite_token)
        members.append(member)
    fund_cash(owner, owner_cash)
    return group, members
