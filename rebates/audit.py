"""Proofs that the books are right. Each check returns human-readable findings; none means clean."""

from datetime import timedelta

from django.db import connection
from django.utils import timezone


def _rows(sql: str, params=None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall()


def unbalanced_transactions() -> list[str]:
    rows = _rows(
        """SELECT e.transaction_id, a.currency, SUM(e.amount) FROM rebates_entry e
           JOIN rebates_ledgeraccount a ON a.id = e.account_id
           GROUP BY e.transaction_id, a.currency HAVING SUM(e.amount) <> 0 ORDER BY 1 LIMIT 100"""
    )
    return [f"transaction {t} does not balance: {total} {cur}" for t, cur, total in rows]


def balance_mismatches() -> list[str]:
    rows = _rows(
        """SELECT a.id, a.kind, a.balance, COALESCE(SUM(e.amount), 0) FROM rebates_ledgeraccount a
           LEFT JOIN rebates_entry e ON e.account_id = a.id
           GROUP BY a.id HAVING a.balance <> COALESCE(SUM(e.amount), 0) ORDER BY a.id LIMIT 100"""
    )
    return [f"account {a} ({kind}) stores {stored} but its entries sum to {summed}" for a, kind, stored, summed in rows]


def negative_balances() -> list[str]:
    rows = _rows(
        "SELECT id, kind, balance FROM rebates_ledgeraccount WHERE NOT allow_negative AND balance < 0 ORDER BY id"
    )
    return [f"account {a} ({kind}) is negative: {bal}" for a, kind, bal in rows]


def redemption_rebate_mismatches() -> list[str]:
    """Every credited redemption has exactly the rebate legs its rule snapshot demands, with those amounts."""
    from packets.models import Redemption

    from .services import redemption_legs

    findings = []
    done = (
        Redemption.objects.filter(rebates__isnull=False).distinct().select_related("order").prefetch_related("rebates")
    )
    for redemption in done.iterator(chunk_size=2000):
        expected = {(leg.role, leg.units) for leg in redemption_legs(redemption)}
        actual = {(r.role, r.amount) for r in redemption.rebates.all()}
        if expected != actual:
            findings.append(f"redemption {redemption.pk} has rebates {sorted(actual)}, its rule demands {expected}")
    return findings


def rebate_reversals_mismatch() -> list[str]:
    """Every reversed amount has its reversing ledger transactions: what left the beneficiary's side (pending,
    available, debt) for a rebate equals the amount the rebate says was reversed."""
    rows = _rows(
        """SELECT r.id, r.reversed_amount, COALESCE(-SUM(e.amount), 0) FROM rebates_rebate r
           LEFT JOIN rebates_ledgertransaction t ON t.reference = 'rebate:' || r.id AND t.kind = 'rebate_reverse'
           LEFT JOIN rebates_entry e ON e.transaction_id = t.id
           LEFT JOIN rebates_ledgeraccount a ON a.id = e.account_id
           WHERE a.id IS NULL OR a.kind IN ('packets_outstanding', 'shopper_cash', 'shopper_cash_pending',
                 'shopper_points', 'shopper_points_pending', 'shopper_debt', 'merchant_marketing_credit',
                 'merchant_credit_pending', 'merchant_debt')
           GROUP BY r.id HAVING r.reversed_amount <> COALESCE(-SUM(e.amount), 0) ORDER BY r.id LIMIT 100"""
    )
    return [f"rebate {r} says {said} reversed, its reversals moved {moved}" for r, said, moved in rows]


def pending_balances_mismatch() -> list[str]:
    """Pending accounts hold exactly the unreversed part of their owners' pending rebates."""
    rows = _rows(
        """WITH owed AS (
             SELECT COALESCE(beneficiary_user_id, 0) AS u, COALESCE(beneficiary_merchant_id, 0) AS m, currency,
                    SUM(amount - reversed_amount) AS total
             FROM rebates_rebate WHERE status = 'pending' GROUP BY 1, 2, 3),
           held AS (
             SELECT COALESCE(user_id, 0) AS u, COALESCE(merchant_id, 0) AS m, currency, SUM(balance) AS total
             FROM rebates_ledgeraccount
             WHERE kind IN ('shopper_cash_pending', 'shopper_points_pending', 'merchant_credit_pending')
             GROUP BY 1, 2, 3)
           SELECT COALESCE(o.u, h.u), COALESCE(o.m, h.m), COALESCE(o.currency, h.currency),
                  COALESCE(o.total, 0), COALESCE(h.total, 0)
           FROM owed o FULL JOIN held h ON o.u = h.u AND o.m = h.m AND o.currency = h.currency
           WHERE COALESCE(o.total, 0) <> COALESCE(h.total, 0) LIMIT 100"""
    )
    return [
        f"{'merchant ' + str(m) if m else 'user ' + str(u)}: pending rebates {owed} {cur}, pending accounts {held}"
        for u, m, cur, owed, held in rows
    ]


def outbox_backlog(grace: timedelta) -> list[str]:
    from .models import OutboxEvent

    cutoff = timezone.now() - grace
    late = OutboxEvent.objects.filter(done_at__isnull=True, created_at__lt=cutoff)
    return [f"outbox {e.topic}:{e.ref_id} not done since {e.created_at:%Y-%m-%d %H:%M:%S}" for e in late[:100]]


def run_audit(*, outbox_grace: timedelta = timedelta(0)) -> dict[str, list[str]]:
    from campaigns.programs import programs_audit

    from .payouts import payouts_match_ledger

    return {
        "transactions balance per currency": unbalanced_transactions(),
        "stored balances equal their entries": balance_mismatches(),
        "non-negative accounts are not negative": negative_balances(),
        "every redemption has exactly its rebates": redemption_rebate_mismatches(),
        "every reversed rebate has its reversal": rebate_reversals_mismatch(),
        "pending accounts match pending rebates": pending_balances_mismatch(),
        "every payout matches its ledger legs": payouts_match_ledger(),
        "program rewards match the ledger": programs_audit(),
        "every outbox event is done": outbox_backlog(outbox_grace),
    }
