"""Proofs that the books are right. Each check returns human-readable findings; none means clean."""

from collections.abc import Callable
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from common.money import refunded_share


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
    """A LIVE account stores the sum of all its entries; any other stores the sum of those below its watermark."""
    rows = _rows(
        """SELECT a.id, a.kind, a.balance,
                  COALESCE(SUM(e.amount) FILTER (WHERE a.posting_mode = 'live' OR e.xid < a.watermark), 0)
           FROM rebates_ledgeraccount a
           LEFT JOIN rebates_entry e ON e.account_id = a.id
           GROUP BY a.id
           HAVING a.balance <> COALESCE(SUM(e.amount) FILTER (WHERE a.posting_mode = 'live' OR e.xid < a.watermark), 0)
           ORDER BY a.id LIMIT 100"""
    )
    return [f"account {a} ({kind}) stores {stored} but its entries sum to {summed}" for a, kind, stored, summed in rows]


def negative_balances() -> list[str]:
    """No account that may not go negative is, counting the entries not rolled up yet (the exact balance)."""
    rows = _rows(
        """SELECT a.id, a.kind, SUM(e.amount) FROM rebates_ledgeraccount a
           JOIN rebates_entry e ON e.account_id = a.id
           WHERE NOT a.allow_negative GROUP BY a.id HAVING SUM(e.amount) < 0 ORDER BY a.id LIMIT 100"""
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


def redemptions_outside_their_campaigns_merchant() -> list[str]:
    """Every redemption happened at a merchant its packet's campaign allows: its own merchant's for a merchant
    campaign (coupon rebates are packets of the same campaign), any for a platform campaign."""
    rows = _rows(
        """SELECT r.id, o.merchant_id, c.id, c.merchant_id FROM packets_redemption r
           JOIN packets_order o ON o.id = r.order_id
           JOIN packets_packet p ON p.id = r.packet_id
           JOIN campaigns_campaign c ON c.id = p.campaign_id
           WHERE c.merchant_id IS NOT NULL AND c.merchant_id <> o.merchant_id
           ORDER BY r.id LIMIT 100"""
    )
    return [
        f"redemption {r} was spent at merchant {at}, but its campaign {c} is merchant {owner}'s"
        for r, at, c, owner in rows
    ]


# The accounts where a beneficiary's rewards live: available, pending, debt — per currency, per owner.
OWNER_KINDS = (
    "shopper_cash",
    "shopper_cash_pending",
    "shopper_points",
    "shopper_points_pending",
    "shopper_debt",
    "merchant_marketing_credit",
    "merchant_credit_pending",
    "merchant_debt",
)
# Ledger transactions that pay a reward to its beneficiary (netting any debt first) …
REWARD_CREDIT_KINDS = (
    "rebate",
    "rebate_confirm",
    "referral_reward",
    "referral_confirm",
    "milestone_reward",
    "trial_feedback_reward",
    "trial_attribution",
)
# … and those that take (a share of) one back on a refund.
REWARD_REVERSAL_KINDS = ("rebate_reverse", "referral_reverse", "trial_feedback_reverse", "trial_attribution_reverse")
REWARD_KINDS = REWARD_CREDIT_KINDS + REWARD_REVERSAL_KINDS
DEBT_KINDS = ("shopper_debt", "merchant_debt")


def _in(values: tuple[str, ...]) -> str:
    """A SQL IN list of the constants above (never of user input)."""
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def rebate_reversals_mismatch() -> list[str]:
    """Every reversed amount has its reversing ledger transactions, and they took exactly that amount from the
    rebate's OWN beneficiary — its pending, available or debt account in the rebate's currency (or, for a coupon
    revoked unused, the campaign's packets outstanding) — never from someone else, and never paid anything to it."""
    owned = f"""(a.kind IN {_in(OWNER_KINDS)} AND a.currency = r.currency
                 AND a.user_id IS NOT DISTINCT FROM r.beneficiary_user_id
                 AND a.merchant_id IS NOT DISTINCT FROM r.beneficiary_merchant_id)
             OR (a.kind = 'packets_outstanding' AND r.form = 'coupon' AND a.campaign_id = c.campaign_id)"""
    rows = _rows(
        f"""SELECT r.id, r.reversed_amount,
                  COALESCE(-SUM(e.amount) FILTER (WHERE {owned}), 0)::numeric(14, 2),
                  COUNT(e.id) FILTER (WHERE a.kind IN {_in(OWNER_KINDS)} AND NOT ({owned})),
                  COUNT(e.id) FILTER (WHERE ({owned}) AND e.amount > 0)
           FROM rebates_rebate r
           -- a coupon lives in the spent packet's campaign (also while held for review, before it is issued)
           LEFT JOIN packets_redemption rd ON rd.id = r.redemption_id
           LEFT JOIN packets_packet c ON c.id = rd.packet_id
           LEFT JOIN rebates_ledgertransaction t ON t.reference = 'rebate:' || r.id AND t.kind = 'rebate_reverse'
           LEFT JOIN rebates_entry e ON e.transaction_id = t.id
           LEFT JOIN rebates_ledgeraccount a ON a.id = e.account_id
           GROUP BY r.id
           HAVING r.reversed_amount <> COALESCE(-SUM(e.amount) FILTER (WHERE {owned}), 0)
               OR COUNT(e.id) FILTER (WHERE a.kind IN {_in(OWNER_KINDS)} AND NOT ({owned})) > 0
               OR COUNT(e.id) FILTER (WHERE ({owned}) AND e.amount > 0) > 0
           ORDER BY r.id LIMIT 100"""
    )
    findings = []
    for r, said, moved, foreign, credits in rows:
        if said != moved:
            findings.append(f"rebate {r} says {said} reversed, its reversals moved {moved} from its beneficiary")
        if foreign:
            findings.append(f"rebate {r}: a reversal moved {foreign} entries of another owner's wallet")
        if credits:
            findings.append(f"rebate {r}: a reversal paid its beneficiary instead of taking back")
    return findings


def rebates_reverse_their_orders_refunded_share() -> list[str]:
    """Every rebate has given back at least the share of it that its order's refunds so far earned — also when a
    refund came before the worker created the rebate (the reversal the worker must apply as it credits). More is
    right when a review rejected or revoked the rest."""
    rows = _rows(
        """SELECT r.id, r.amount, r.reversed_amount, r.currency, o.gross_amount,
                  COALESCE((SELECT SUM(f.amount) FROM packets_refund f WHERE f.order_id = o.id), 0)
           FROM rebates_rebate r
           JOIN packets_redemption rd ON rd.id = r.redemption_id
           JOIN packets_order o ON o.id = rd.order_id
           WHERE r.reversed_amount > 0 OR EXISTS (SELECT 1 FROM packets_refund f WHERE f.order_id = o.id)
           ORDER BY r.id"""
    )
    findings = []
    for rebate_id, amount, reversed_amount, currency, gross, refunded in rows:
        owed = refunded_share(amount, refunded, gross, currency)
        if reversed_amount < owed:
            findings.append(
                f"rebate {rebate_id}: refunds of {refunded} out of {gross} take back {owed}, "
                f"it gave back {reversed_amount}"
            )
        if len(findings) == 100:
            break
    return findings


def rewards_reconcile_per_beneficiary() -> list[str]:
    """No reward is both paid out and reversed without a debt. For every beneficiary and currency:

        credited − reversed (the reward rows)  =  what reward transactions moved into its pending + available + debt

    The available account can never go negative (CHECK + `negative_balances`), so a reversal whose value has
    already left the wallet (paid out to WeChat, spent at checkout, funded a campaign) can only balance this
    equation as debt; a reversal that is dropped, taken from someone else or paid twice cannot. Rows: packet rebates
    (not coupons — a coupon's value lives in its packet; `rebate_reversals_mismatch` checks its reversal), referral
    rewards credited, milestone rewards paid, feedback points not reversed, trial attributions credited."""
    actual = _rows(
        f"""SELECT COALESCE(a.user_id, 0), COALESCE(a.merchant_id, 0), a.currency, SUM(e.amount)
            FROM rebates_entry e
            JOIN rebates_ledgertransaction t ON t.id = e.transaction_id
            JOIN rebates_ledgeraccount a ON a.id = e.account_id
            WHERE t.kind IN {_in(REWARD_KINDS)} AND a.kind IN {_in(OWNER_KINDS)}
              AND NOT (t.kind = 'rebate_reverse' AND t.reference IN (
                       SELECT 'rebate:' || id FROM rebates_rebate WHERE form = 'coupon'))
            GROUP BY 1, 2, 3"""
    )
    expected = _rows(
        """SELECT u, m, currency, SUM(total) FROM (
             SELECT COALESCE(beneficiary_user_id, 0) AS u, COALESCE(beneficiary_merchant_id, 0) AS m, currency,
                    amount - reversed_amount AS total
             FROM rebates_rebate WHERE form <> 'coupon'
             UNION ALL
             SELECT inviter_id, 0, 'CNY', amount - reversed_amount
             FROM campaigns_referralreward WHERE status = 'credited'
             UNION ALL
             SELECT teacher_id, 0, 'CNY', reward FROM campaigns_enrolment WHERE status = 'paid'
             UNION ALL
             SELECT shopper_id, 0, 'POINTS', reward_points FROM campaigns_feedback
             WHERE ledger_transaction_id IS NOT NULL AND reversed_at IS NULL
             UNION ALL
             SELECT 0, merchant_id, 'CNY', amount - reversed_amount
             FROM campaigns_trialattribution WHERE status = 'credited'
           ) rows GROUP BY 1, 2, 3"""
    )
    moved = {(u, m, cur): total for u, m, cur, total in actual}
    owed = {(u, m, cur): total for u, m, cur, total in expected}
    findings = []
    for key in sorted(set(moved) | set(owed)):
        u, m, cur = key
        if moved.get(key, 0) != owed.get(key, 0):
            who = f"merchant {m}" if m else f"user {u}"
            findings.append(
                f"{who}: rewards credited less reversed {owed.get(key, 0)} {cur}, "
                f"but reward transactions moved {moved.get(key, 0)} into its pending + available + debt"
            )
            if len(findings) >= 100:
                break
    return findings


def debts_move_only_with_rewards() -> list[str]:
    """A debt account is a receivable (never positive). Only a reversal adds to a debt, and only a reward credit
    pays it down: nothing else — a payout, a manual adjustment — may forgive or create one."""
    rows = _rows(
        f"""SELECT t.id, t.kind, a.id, a.kind, e.amount FROM rebates_entry e
            JOIN rebates_ledgeraccount a ON a.id = e.account_id
            JOIN rebates_ledgertransaction t ON t.id = e.transaction_id
            WHERE a.kind IN {_in(DEBT_KINDS)}
              AND NOT ((e.amount < 0 AND t.kind IN {_in(REWARD_REVERSAL_KINDS)})
                    OR (e.amount > 0 AND t.kind IN {_in(REWARD_CREDIT_KINDS)}))
            ORDER BY e.id LIMIT 100"""
    )
    findings = [
        f"transaction {t} ({kind}) moves {amount} on debt account {a} ({akind}): only reversals add debt, "
        f"only reward credits repay it"
        for t, kind, a, akind, amount in rows
    ]
    positive = _rows(
        f"SELECT id, kind, balance FROM rebates_ledgeraccount WHERE kind IN {_in(DEBT_KINDS)} AND balance > 0"
    )
    findings += [f"debt account {a} ({kind}) is positive: {bal}" for a, kind, bal in positive]
    return findings


def debts_netted_before_rewards() -> list[str]:
    """While a beneficiary owes a debt, no reward reaches its available balance: each reward credit first repays the
    debt (all of it, or the whole reward goes to it). The debt owed before a credit is the sum of the debt account's
    earlier entries — earlier by entry id, which follows commit order per account because every reward step locks
    the beneficiary's debt account before it writes."""
    avail = """CASE WHEN d.kind = 'merchant_debt' THEN 'merchant_marketing_credit'
                    WHEN d.currency = 'POINTS' THEN 'shopper_points' ELSE 'shopper_cash' END"""
    rows = _rows(
        f"""WITH debts AS (
              SELECT d.id AS debt_id, av.id AS avail_id FROM rebates_ledgeraccount d
              JOIN rebates_ledgeraccount av ON av.kind = {avail} AND av.currency = d.currency
                   AND av.user_id IS NOT DISTINCT FROM d.user_id AND av.merchant_id IS NOT DISTINCT FROM d.merchant_id
                   AND av.campaign_id IS NULL
              WHERE d.kind IN {_in(DEBT_KINDS)} AND EXISTS (SELECT 1 FROM rebates_entry x WHERE x.account_id = d.id)),
            credits AS (
              SELECT debts.debt_id, e.transaction_id, MIN(e.id) AS first_entry
              FROM debts JOIN rebates_entry e ON e.account_id = debts.avail_id AND e.amount > 0
              JOIN rebates_ledgertransaction t ON t.id = e.transaction_id AND t.kind IN {_in(REWARD_CREDIT_KINDS)}
              GROUP BY 1, 2)
            SELECT c.debt_id, c.transaction_id, owed, repaid FROM (
              SELECT c.*,
                -COALESCE((SELECT SUM(x.amount) FROM rebates_entry x WHERE x.account_id = c.debt_id
                           AND x.transaction_id <> c.transaction_id AND x.id < c.first_entry), 0) AS owed,
                COALESCE((SELECT SUM(x.amount) FROM rebates_entry x WHERE x.account_id = c.debt_id
                          AND x.transaction_id = c.transaction_id), 0) AS repaid
              FROM credits c) c
            WHERE owed - repaid > 0 ORDER BY 2 LIMIT 100"""
    )
    return [
        f"transaction {t} credited an available balance while debt account {d} was owed {owed} (repaid {repaid})"
        for d, t, owed, repaid in rows
    ]


def payout_clearing_moves_only_with_payouts() -> list[str]:
    """Every entry on the payouts-in-flight account is a leg of an existing payout (a reserve, settle or refund)."""
    from .payouts.services import LEDGER_KIND_REFUND, LEDGER_KIND_RESERVE, LEDGER_KIND_SETTLE, PAYOUT_CLEARING

    rows = _rows(
        """SELECT t.id, t.kind, t.reference FROM rebates_entry e
           JOIN rebates_ledgeraccount a ON a.id = e.account_id
           JOIN rebates_ledgertransaction t ON t.id = e.transaction_id
           WHERE a.kind = %s AND (t.kind NOT IN (%s, %s, %s)
                 OR NOT EXISTS (SELECT 1 FROM rebates_payout p WHERE t.reference = 'payout:' || p.id))
           ORDER BY t.id LIMIT 100""",
        [PAYOUT_CLEARING, LEDGER_KIND_RESERVE, LEDGER_KIND_SETTLE, LEDGER_KIND_REFUND],
    )
    return [f"transaction {t} ({kind}, {ref}) moves payouts in flight but is no payout's leg" for t, kind, ref in rows]


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


# The books of the apps above rebates (programs, lucky money), registered from their AppConfig.ready(): each returns
# {title: findings}, so the audit runs them without rebates importing upward.
_registered_checks: list[Callable[[], dict[str, list[str]]]] = []


def audit_checks_register(checks: Callable[[], dict[str, list[str]]]) -> None:
    if checks not in _registered_checks:
        _registered_checks.append(checks)


def run_audit(*, outbox_grace: timedelta = timedelta(0)) -> dict[str, list[str]]:
    from .payouts.services import payouts_match_ledger

    registered = {title: findings for checks in _registered_checks for title, findings in checks().items()}

    return {
        "transactions balance per currency": unbalanced_transactions(),
        "stored balances equal their entries": balance_mismatches(),
        "non-negative accounts are not negative": negative_balances(),
        "every redemption has exactly its rebates": redemption_rebate_mismatches(),
        "every redemption is at a merchant its campaign allows": redemptions_outside_their_campaigns_merchant(),
        "every reversed rebate has its reversal, from its own beneficiary": rebate_reversals_mismatch(),
        "every rebate gives back (at least) its order's refunded share": rebates_reverse_their_orders_refunded_share(),
        "rewards reconcile per beneficiary (no reward paid out and reversed without a debt)": (
            rewards_reconcile_per_beneficiary()
        ),
        "debts move only with rewards and are never positive": debts_move_only_with_rewards(),
        "a debt is netted before any reward reaches the balance": debts_netted_before_rewards(),
        "pending accounts match pending rebates": pending_balances_mismatch(),
        "every payout matches its ledger legs": payouts_match_ledger(),
        "payouts in flight move only with payouts": payout_clearing_moves_only_with_payouts(),
        "every outbox event is done": outbox_backlog(outbox_grace),
        **registered,
    }
