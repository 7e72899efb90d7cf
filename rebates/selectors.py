from decimal import Decimal

from django.db import connection
from django.db.models import QuerySet, Sum
from django.utils import timezone

from accounts.models import User
from accounts.selectors import merchant_of
from common.money import CNY, POINTS, ZERO
from packets.models import Packet

from .models import AccountKind, LedgerAccount, Rebate


def rebates_visible_to(user: User) -> QuerySet[Rebate]:
    merchant = merchant_of(user)
    qs = (
        Rebate.objects.filter(beneficiary_merchant=merchant)
        if merchant
        else Rebate.objects.filter(beneficiary_user=user)
    )
    return qs.select_related("redemption").order_by("-created_at", "-pk")


def wallet_of(user: User) -> dict:
    """Balances in O(1): the stored balance column, kept by the ledger trigger and proven by `audit`."""
    merchant = merchant_of(user)
    if merchant:
        wanted = {
            "deposit": (AccountKind.MERCHANT_DEPOSIT, CNY),
            "marketing_credit": (AccountKind.MERCHANT_MARKETING_CREDIT, CNY),
            "marketing_credit_pending": (AccountKind.MERCHANT_CREDIT_PENDING, CNY),
            "debt": (AccountKind.MERCHANT_DEBT, CNY),
        }
        accounts = LedgerAccount.objects.filter(merchant=merchant)
    else:
        wanted = {
            "cash": (AccountKind.SHOPPER_CASH, CNY),
            "points": (AccountKind.SHOPPER_POINTS, POINTS),
            "cash_pending": (AccountKind.SHOPPER_CASH_PENDING, CNY),
            "points_pending": (AccountKind.SHOPPER_POINTS_PENDING, POINTS),
            "debt": (AccountKind.SHOPPER_DEBT, CNY),
        }
        accounts = LedgerAccount.objects.filter(user=user)
    found = {(a.kind, a.currency): a.balance for a in accounts.filter(kind__in=[k for k, _ in wanted.values()])}
    balances = {}
    for name, (kind, currency) in wanted.items():
        value = found.get((kind, currency), ZERO)
        value = -value if name == "debt" else value  # a debt account holds what is owed as a negative balance
        balances[name] = int(value) if currency == POINTS else f"{value:.2f}"
    if not merchant:
        balances["coupons"] = f"{_coupons_value(user):.2f}"
    return {"owner": "merchant" if merchant else "shopper", "balances": balances}


def _coupons_value(user: User):
    """What the shopper's coupon rebates are worth: coupons won as rebates, still unused and unexpired."""
    total = Packet.objects.filter(
        holder=user, channel="rebate", status=Packet.Status.ISSUED, expires_at__gt=timezone.now()
    ).aggregate(total=Sum("amount"))["total"]
    return total or ZERO


def account_balance(account: LedgerAccount) -> Decimal:
    """The exact balance of a BUFFERED or PASS_THROUGH account, in one statement (one snapshot): its rolled-up
    balance, the entries after its watermark, and what its floats hold."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT a.balance
                      + COALESCE((SELECT SUM(e.amount) FROM rebates_entry e
                                   WHERE e.account_id = a.id AND e.xid >= a.watermark), 0)
                      + COALESCE((SELECT SUM(f.balance) FROM rebates_ledgeraccount f
                                   WHERE f.kind = a.kind AND f.currency = a.currency AND f.shard > 0
                                     AND f.campaign_id IS NOT DISTINCT FROM a.campaign_id
                                     AND f.merchant_id IS NOT DISTINCT FROM a.merchant_id
                                     AND f.user_id IS NOT DISTINCT FROM a.user_id), 0)
               FROM rebates_ledgeraccount a WHERE a.id = %s""",
            [account.pk],
        )
        row = cursor.fetchone()
    return row[0] if row else ZERO
