"""Audit: the program rows and the ledger agree (registered with rebates.audit by CampaignsConfig.ready)."""

from rebates.models import AccountKind

from ..models import Enrolment, Feedback, ReferralReward, TrialAttribution


def programs_audit_checks() -> dict[str, list[str]]:
    return {"program rewards match the ledger": programs_audit()}


def programs_audit() -> list[str]:
    """Every paid program row has exactly one ledger transaction under its key, and every key has its row; every
    reversed share has its reversing transactions, which moved exactly that share from the beneficiary (or, for a
    held referral reward, from the campaign's rebate reserve)."""
    from rebates.models import Entry, LedgerTransaction

    findings: list[str] = []
    expected: dict[str, str] = {}
    held = set(
        Entry.objects.filter(transaction__kind="referral_reward", account__kind=AccountKind.REBATE_RESERVE).values_list(
            "transaction__idempotency_key", flat=True
        )
    )
    reversed_orders: dict[str, set[int]] = {"referral": set(), "attribution": set()}
    for r in ReferralReward.objects.exclude(status=ReferralReward.Status.UNFUNDED).values(
        "pk", "order_id", "confirmed_at", "reversed_amount"
    ):
        key = f"referral:order:{r['order_id']}"
        expected[key] = f"referral reward {r['pk']}"
        if r["confirmed_at"] is not None and key in held:
            expected[f"{key}:confirm"] = f"referral reward {r['pk']} (confirmed after its hold)"
        if r["reversed_amount"] > 0:
            reversed_orders["referral"].add(r["order_id"])
    for e in Enrolment.objects.values("pk", "status"):
        expected[f"enrolment:{e['pk']}:reserve"] = f"enrolment {e['pk']}"
        if e["status"] == Enrolment.Status.PAID:
            expected[f"enrolment:{e['pk']}:pay"] = f"enrolment {e['pk']} (paid)"
        if e["status"] == Enrolment.Status.EXPIRED:
            expected[f"enrolment:{e['pk']}:release"] = f"enrolment {e['pk']} (released)"
    for pk, reversed_at in Feedback.objects.filter(ledger_transaction__isnull=False).values_list("pk", "reversed_at"):
        expected[f"trial:feedback:{pk}:reward"] = f"feedback {pk}"
        if reversed_at is not None:
            expected[f"trial:feedback:{pk}:reverse"] = f"feedback {pk} (reward reversed)"
    for a in TrialAttribution.objects.exclude(status=TrialAttribution.Status.UNFUNDED).values(
        "pk", "order_id", "reversed_amount"
    ):
        expected[f"trial:attribution:order:{a['order_id']}"] = f"trial attribution {a['pk']}"
        if a["reversed_amount"] > 0:
            reversed_orders["attribution"].add(a["order_id"])
    kinds = [
        "referral_reward",
        "referral_confirm",
        "milestone_reserve",
        "milestone_reward",
        "milestone_release",
        "trial_feedback_reward",
        "trial_feedback_reverse",
        "trial_attribution",
    ]
    posted = set(LedgerTransaction.objects.filter(kind__in=kinds).values_list("idempotency_key", flat=True))
    findings += [f"{what} has no ledger transaction {key}" for key, what in expected.items() if key not in posted]
    findings += [f"ledger transaction {key} has no program row" for key in sorted(posted - set(expected))]
    # Partial reversals post one transaction per refund: each must belong to a row that says it was reversed.
    for kind, what in (("referral_reverse", "referral"), ("trial_attribution_reverse", "attribution")):
        for key, reference in LedgerTransaction.objects.filter(kind=kind).values_list("idempotency_key", "reference"):
            order_id = int(reference.removeprefix("order:")) if reference.startswith("order:") else None
            if order_id not in reversed_orders[what]:
                findings.append(f"ledger transaction {key} reverses a {what} reward that is not reversed")
    findings += _program_reversals_mismatch()
    return findings


def _program_reversals_mismatch() -> list[str]:
    """What each program reward says was reversed left its beneficiary's own accounts (available or debt) — or,
    for a referral reward still held, the campaign's rebate reserve — through its reversing transactions."""
    from django.db import connection

    queries = {
        "referral reward": """
            SELECT r.id, r.reversed_amount AS said, COALESCE(-SUM(e.amount) FILTER (WHERE
                     (a.kind IN ('shopper_cash', 'shopper_debt') AND a.user_id = r.inviter_id AND a.currency = 'CNY')
                  OR (a.kind = 'rebate_reserve' AND a.campaign_id = p.campaign_id)), 0)::numeric(14, 2) AS moved
            FROM campaigns_referralreward r JOIN campaigns_referralprogram p ON p.id = r.program_id
            LEFT JOIN rebates_ledgertransaction t
                   ON t.reference = 'order:' || r.order_id AND t.kind = 'referral_reverse'
            LEFT JOIN rebates_entry e ON e.transaction_id = t.id
            LEFT JOIN rebates_ledgeraccount a ON a.id = e.account_id
            GROUP BY r.id""",
        "trial attribution": """
            SELECT r.id, r.reversed_amount AS said, COALESCE(-SUM(e.amount) FILTER (WHERE
                     a.kind IN ('merchant_marketing_credit', 'merchant_debt') AND a.merchant_id = r.merchant_id), 0)
                   ::numeric(14, 2) AS moved
            FROM campaigns_trialattribution r
            LEFT JOIN rebates_ledgertransaction t
                   ON t.reference = 'order:' || r.order_id AND t.kind = 'trial_attribution_reverse'
            LEFT JOIN rebates_entry e ON e.transaction_id = t.id
            LEFT JOIN rebates_ledgeraccount a ON a.id = e.account_id
            GROUP BY r.id""",
        "feedback": """
            SELECT r.id, CASE WHEN r.reversed_at IS NULL THEN 0 ELSE r.reward_points END AS said,
                   COALESCE(-SUM(e.amount) FILTER (WHERE
                     a.kind IN ('shopper_points', 'shopper_debt') AND a.user_id = r.shopper_id
                     AND a.currency = 'POINTS'), 0)::numeric(14, 2) AS moved
            FROM campaigns_feedback r
            LEFT JOIN rebates_ledgertransaction t
                   ON t.reference = 'feedback:' || r.id AND t.kind = 'trial_feedback_reverse'
            LEFT JOIN rebates_entry e ON e.transaction_id = t.id
            LEFT JOIN rebates_ledgeraccount a ON a.id = e.account_id
            WHERE r.ledger_transaction_id IS NOT NULL
            GROUP BY r.id""",
    }
    findings = []
    with connection.cursor() as cursor:
        for what, sql in queries.items():
            cursor.execute(f"SELECT * FROM ({sql}) x WHERE x.said <> x.moved LIMIT 100")
            findings += [f"{what} {pk} says {said} reversed, its reversals moved {moved}" for pk, said, moved in cursor]
    return findings
