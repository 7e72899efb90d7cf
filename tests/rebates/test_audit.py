from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from rebates.ledger import ledger_account, platform_account, transfer
from rebates.models import AccountKind
from tests.factories.accounts import UserFactory


@pytest.fixture
def funded_wallet(db):
    wallet = ledger_account(kind=AccountKind.SHOPPER_CASH, user_id=UserFactory().pk)
    transfer(
        source=platform_account(AccountKind.PLATFORM_EXTERNAL),
        destination=wallet,
        amount=Decimal("8.00"),
        kind="deposit",
        idempotency_key="a1",
        reference="test",
    )
    return wallet


def test_audit_is_clean_on_correct_books(funded_wallet, capsys):
    call_command("audit")
    assert "audit clean" in capsys.readouterr().out


def test_audit_finds_a_corrupted_balance_and_fails(funded_wallet, capsys):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE rebates_ledgeraccount SET balance = 9.00 WHERE id = %s", [funded_wallet.pk])
    with pytest.raises(CommandError, match="1 problem"):
        call_command("audit")
    out = capsys.readouterr().out
    assert f"account {funded_wallet.pk} (shopper_cash) stores 9.00 but its entries sum to 8.00" in out
