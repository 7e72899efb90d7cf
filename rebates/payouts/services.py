"""Payouts: a shopper withdraws cash from the platform wallet to WeChat 零钱 (商家转账).

Money, three ledger transactions per payout at most, each under its own idempotency key:

    request   shopper_cash (wallet)  → payout_clearing       payout:<id>:reserve   (with the Payout row, one txn)
    success   payout_clearing        → platform_external     payout:<id>:settle
    failure   payout_clearing        → shopper_cash (wallet) payout:<id>:refund

Status: requested → in_flight → succeeded | failed, with retrying when an attempt's outcome is unknown. Every
transition happens under the payout's row lock, and settle/refund only from a non-terminal status, so each happens
at most once whoever calls (task, notification, admin, a duplicate delivery).

Never pay twice: the bill's out_bill_no is fixed by the payout id (WeChat keeps one bill per out_bill_no), and after
any attempt whose outcome is unknown (timeout, 5xx, unverifiable reply) the next step QUERIES the bill before it
sends anything. Money goes back to the wallet only when WeChat says the bill failed (FAIL / CANCELLED), or refused
the request for good and a query confirms no bill exists. When attempts run out with the outcome still unknown, the
payout stays `retrying` with no next attempt: an operator retries it from admin (the money stays in clearing).
"""

import logging
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.selectors import merchant_of
from common.errors import ApplicationError, Conflict, NotFound
from common.money import CNY, MoneyError, format_cny, quantize, to_minor

from ..errors import InsufficientFunds
from ..ledger import ledger_account, platform_account, transfer
from ..models import AccountKind
from ..webhooks import services as webhooks
from . import wechat
from .models import Payout, WechatOpenId, out_bill_no_for

log = logging.getLogger(__name__)

# The clearing account of money on its way out ("payouts in flight"). Not yet in AccountKind's choices (the database
# does not enforce choices); non-negative like every account but the outside world.
PAYOUT_CLEARING = "payout_clearing"

LEDGER_KIND_RESERVE = "payout_reserve"
LEDGER_KIND_SETTLE = "payout_settle"
LEDGER_KIND_REFUND = "payout_refund"
# While one worker talks to WeChat, others leave the payout alone for this long (then the sweeper takes it over).
LEASE_EXTRA_SECONDS = 30
# A due payout the countdown task has not picked up after this long is re-published by the sweeper.
SWEEP_GRACE_SECONDS = 30

OPEN_STATUSES = (Payout.Status.REQUESTED, Payout.Status.IN_FLIGHT, Payout.Status.RETRYING)


def ledger_key(payout_id: int, step: str) -> str:
    return f"payout:{payout_id}:{step}"


def ledger_reference(payout_id: int) -> str:
    return f"payout:{payout_id}"


def clearing_account():
    return platform_account(PAYOUT_CLEARING)


def _wallet(user_id: int):
    return ledger_account(kind=AccountKind.SHOPPER_CASH, user_id=user_id)


def payout_lock(payout_id: int) -> Payout:
    return Payout.objects.select_for_update().get(pk=payout_id)


# --- request ---------------------------------------------------------------------------------------------------


def openid_for(user: User) -> str:
    """The openid (under our appid) that receives this user's payouts.

    A linked WechatOpenId row wins. Without one, WECHATPAY_TEST_OPENID is used — but never against the real gateway,
    so a demo setting left in production cannot send everyone's money to one person."""
    appid = settings.WECHATPAY_APPID
    linked = WechatOpenId.objects.filter(user=user, appid=appid).values_list("openid", flat=True).first()
    if linked:
        return linked
    if settings.WECHATPAY_TEST_OPENID and not wechat.is_real_gateway():
        return settings.WECHATPAY_TEST_OPENID
    raise Conflict(_("Link your WeChat account before withdrawing to WeChat."), code="wechat_not_linked")


def _check_amount(amount: Decimal) -> None:
    if not isinstance(amount, Decimal):
        raise MoneyError("money must be Decimal")
    if amount != quantize(amount, CNY):
        raise ApplicationError(_("Amounts have at most two decimal places."), code="invalid_amount")
    if amount <= 0:
        raise ApplicationError(_("The amount must be positive."), code="invalid_amount")
    low, high = settings.WECHATPAY_MIN_PAYOUT, settings.WECHATPAY_MAX_PAYOUT
    if amount < low:
        raise ApplicationError(
            _("A withdrawal is at least %(min)s.") % {"min": format_cny(low)},
            code="amount_below_minimum",
            details={"minimum": str(low)},
        )
    if amount > high:
        raise ApplicationError(
            _("A withdrawal is at most %(max)s.") % {"max": format_cny(high)},
            code="amount_above_maximum",
            details={"maximum": str(high)},
        )


def _next_payout_id() -> int:
    """Take the id first, so the row is inserted once with its out_bill_no (which is derived from the id)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('rebates_payout', 'id'))")
        return cursor.fetchone()[0]


@transaction.atomic
def payout_request(*, user: User, amount: Decimal, channel: str) -> Payout:
    """Reserve `amount` from the user's cash wallet and create the payout; the sending happens in a task after commit.

    Refused (nothing written) when the amount is out of bounds, the channel cannot pay out, WeChat is not linked or
    configured, or the wallet cannot cover it (409 insufficient_funds)."""
    _check_amount(amount)
    if merchant_of(user) is not None:
        raise ApplicationError(_("Merchant staff cannot withdraw shopper cash."), code="not_a_shopper", status=403)
    if channel != Payout.Channel.WECHAT_BALANCE:
        raise ApplicationError(
            _("Only withdrawals to WeChat balance are supported (the platform wallet is where the money already is)."),
            code="unsupported_channel",
        )
    wechat.config()  # 503 wechat_not_configured before anything is written
    openid = openid_for(user)
    payout_id = _next_payout_id()
    payout = Payout.objects.create(
        pk=payout_id,
        out_bill_no=out_bill_no_for(payout_id),
        beneficiary=user,
        amount=amount,
        channel=channel,
        openid=openid,
        status=Payout.Status.REQUESTED,
        next_attempt_at=timezone.now(),
    )
    wallet = _wallet(user.pk)
    try:
        transfer(
            source=wallet,
            destination=clearing_account(),
            amount=amount,
            kind=LEDGER_KIND_RESERVE,
            idempotency_key=ledger_key(payout_id, "reserve"),
            reference=ledger_reference(payout_id),
            memo=f"withdrawal {payout.out_bill_no} to WeChat",
        )
    except InsufficientFunds as exc:
        wallet.refresh_from_db(fields=["stored_balance"])
        raise InsufficientFunds(
            wallet.pk,
            f"Your cash wallet holds {format_cny(wallet.balance)}; it cannot cover {format_cny(amount)}.",
        ) from exc
    transaction.on_commit(lambda: payout_enqueue(payout_id))
    return payout


def payout_enqueue(payout_id: int, countdown: float = 0) -> bool:
    """Publish the send task. A lost publish is harmless: `payouts_sweep` re-publishes every due payout."""
    from .tasks import payout_send

    try:
        payout_send.apply_async(
            args=[payout_id],
            countdown=countdown,
            queue=settings.CELERY_TASK_DEFAULT_QUEUE,
            retry=True,
            retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2},
        )
        return True
    except Exception:
        log.warning("publishing payout %s failed; the sweeper will retry", payout_id, exc_info=True)
        return False


# --- sending ---------------------------------------------------------------------------------------------------


def backoff_seconds(attempts: int) -> float:
    """Exponential: base, 2·base, 4·base… capped."""
    base, cap = settings.WECHATPAY_RETRY_BASE_SECONDS, settings.WECHATPAY_RETRY_MAX_SECONDS
    return float(min(cap, base * 2 ** max(0, attempts - 1)))


def _begin_attempt(payout_id: int, *, now) -> tuple[Payout | None, bool]:
    """Under the lock: take the payout for one step. Returns (payout, query_first) or (None, _) when not ours."""
    with transaction.atomic():
        payout = payout_lock(payout_id)
        if payout.is_terminal:
            return None, False
        if payout.next_attempt_at is None or payout.next_attempt_at > now + timedelta(seconds=1):
            # Not due: another worker holds the lease, a retry is already scheduled, or operators must decide.
            return None, False
        # Anything but a fresh request may have reached WeChat already: ask before sending.
        query_first = payout.status != Payout.Status.REQUESTED
        payout.attempts += 1
        payout.status = Payout.Status.IN_FLIGHT
        payout.next_attempt_at = now + timedelta(seconds=3 * settings.WECHATPAY_TIMEOUT_SECONDS + LEASE_EXTRA_SECONDS)
        payout.save(update_fields=["attempts", "status", "next_attempt_at", "updated_at"])
        return payout, query_first


def payout_attempt(*, payout_id: int) -> float | None:
    """One step of paying out: query (when a request may have gone out before), then send if no bill exists.

    Returns the seconds until the next step is due (a retry or a poll), or None when nothing more is scheduled."""
    payout, query_first = _begin_attempt(payout_id, now=timezone.now())
    if payout is None:
        return None
    try:
        if query_first:
            found = wechat.transfer_query(out_bill_no=payout.out_bill_no)
            if found.outcome is wechat.Outcome.BILL and not _lacks_package_info(payout, found.bill):
                return payout_record_bill(payout_id=payout_id, bill=found.bill)
            if found.outcome not in (wechat.Outcome.NOT_FOUND, wechat.Outcome.BILL):
                return _schedule_retry(payout_id, f"query: {found.describe()}")
        sent = wechat.transfer_create(
            out_bill_no=payout.out_bill_no, openid=payout.openid, amount_fen=to_minor(payout.amount)
        )
        if sent.outcome is wechat.Outcome.BILL:
            return payout_record_bill(payout_id=payout_id, bill=sent.bill)
        # Timeout, 5xx, unverifiable reply or a refusal: did the bill get created anyway? Ask before deciding.
        found = wechat.transfer_query(out_bill_no=payout.out_bill_no)
        if found.outcome is wechat.Outcome.BILL:
            return payout_record_bill(payout_id=payout_id, bill=found.bill)
        if found.outcome is wechat.Outcome.NOT_FOUND and sent.outcome is wechat.Outcome.REJECTED:
            _finish(payout_id, succeeded=False, reason=sent.code or "REJECTED", error=f"transfer: {sent.describe()}")
            return None
        return _schedule_retry(payout_id, f"transfer: {sent.describe()}; query: {found.describe()}")
    except Exception as exc:  # keys unreadable, configuration removed, a bug: visible to operators, retried later
        log.exception("payout %s step failed", payout.out_bill_no)
        return _schedule_retry(payout_id, f"{type(exc).__name__}: {exc}")


def _lacks_package_info(payout: Payout, bill: wechat.Bill) -> bool:
    """The bill waits for the user's confirmation but we never saw its package_info (the create reply was lost, and a
    query does not carry it): sending the same out_bill_no again returns the same bill, with package_info."""
    return bill.state == wechat.BillState.WAIT_USER_CONFIRM and not bill.package_info and not payout.package_info


def _schedule_retry(payout_id: int, error: str) -> float | None:
    with transaction.atomic():
        payout = payout_lock(payout_id)
        if payout.is_terminal:
            return None
        payout.status = Payout.Status.RETRYING
        payout.last_error = error[:2000]
        if payout.attempts >= settings.WECHATPAY_MAX_ATTEMPTS:
            # The outcome is still unknown: refunding now could pay twice if the bill appears later. Operators decide.
            payout.next_attempt_at = None
            payout.last_error = f"gave up after {payout.attempts} attempts (retry from admin): {error}"[:2000]
            delay = None
            log.error("payout %s: %s", payout.out_bill_no, payout.last_error)
        else:
            delay = backoff_seconds(payout.attempts)
            payout.next_attempt_at = timezone.now() + timedelta(seconds=delay)
        payout.save(update_fields=["status", "last_error", "next_attempt_at", "updated_at"])
        return delay


def payout_record_bill(*, payout_id: int, bill: wechat.Bill) -> float | None:
    """Apply what WeChat says about the bill (a reply, a query or a verified notification). Idempotent.

    SUCCESS settles, FAIL/CANCELLED refunds, anything else keeps the payout in flight and schedules a poll."""
    with transaction.atomic():
        payout = payout_lock(payout_id)
        expected_fen = to_minor(payout.amount)
        if bill.out_bill_no != payout.out_bill_no or (bill.amount_fen is not None and bill.amount_fen != expected_fen):
            # Never move money on a bill that is not this payout's; operators look at it.
            message = (
                f"bill {bill.out_bill_no} for {bill.amount_fen} fen does not match "
                f"payout {payout.out_bill_no} for {expected_fen} fen"
            )
            log.error(message)
            payout.last_error = message
            if not payout.is_terminal:
                payout.status, payout.next_attempt_at = Payout.Status.RETRYING, None
            payout.save(update_fields=["status", "last_error", "next_attempt_at", "updated_at"])
            return None
        if payout.is_terminal:
            final = Payout.Status.SUCCEEDED if bill.state == wechat.BillState.SUCCESS else None
            final = Payout.Status.FAILED if bill.state in wechat.BillState.FAILED else final
            if final and final != payout.status:
                log.error("payout %s is %s but WeChat now says %s", payout.out_bill_no, payout.status, bill.state)
            return None
        if bill.transfer_bill_no:
            payout.transfer_bill_no = bill.transfer_bill_no
        if bill.package_info:  # only a create reply carries it; a query reply never clears it
            payout.package_info = bill.package_info
        payout.wechat_state = bill.state
        payout.save(update_fields=["transfer_bill_no", "package_info", "wechat_state", "updated_at"])
        if bill.state == wechat.BillState.SUCCESS:
            _finish(payout.pk, succeeded=True)
            return None
        if bill.state in wechat.BillState.FAILED:
            _finish(payout.pk, succeeded=False, reason=bill.fail_reason or bill.state)
            return None
        # Accepted / processing / waiting for the user to confirm: the notification (or this poll) finishes it.
        delay = backoff_seconds(payout.attempts)
        payout.status = Payout.Status.IN_FLIGHT
        payout.next_attempt_at = timezone.now() + timedelta(seconds=delay)
        payout.save(update_fields=["status", "next_attempt_at", "updated_at"])
        return delay


@transaction.atomic
def _finish(payout_id: int, *, succeeded: bool, reason: str = "", error: str = "") -> Payout:
    """Settle (to the outside world) or refund (to the wallet), once: under the lock, from a non-terminal status."""
    payout = payout_lock(payout_id)
    if payout.is_terminal:
        return payout
    if succeeded:
        transfer(
            source=clearing_account(),
            destination=platform_account(AccountKind.PLATFORM_EXTERNAL),
            amount=payout.amount,
            kind=LEDGER_KIND_SETTLE,
            idempotency_key=ledger_key(payout.pk, "settle"),
            reference=ledger_reference(payout.pk),
            memo=f"paid {payout.out_bill_no} (WeChat {payout.transfer_bill_no})",
        )
        payout.status = Payout.Status.SUCCEEDED
    else:
        transfer(
            source=clearing_account(),
            destination=_wallet(payout.beneficiary_id),
            amount=payout.amount,
            kind=LEDGER_KIND_REFUND,
            idempotency_key=ledger_key(payout.pk, "refund"),
            reference=ledger_reference(payout.pk),
            memo=f"withdrawal {payout.out_bill_no} failed: {reason}"[:200],
        )
        payout.status = Payout.Status.FAILED
        payout.fail_reason = reason[:64]
        if error:
            payout.last_error = error[:2000]
    payout.completed_at = timezone.now()
    payout.next_attempt_at = None
    payout.save(update_fields=["status", "fail_reason", "last_error", "completed_at", "next_attempt_at", "updated_at"])
    webhooks.webhooks_emit_payout_finished(payout)
    return payout


# --- notifications, operators, sweeper -------------------------------------------------------------------------


def payout_notification_apply(*, headers, body: bytes) -> Payout:
    """A WeChat Pay notification: verified and decrypted (NotificationRejected → 4xx, nothing moved), then applied
    like a query reply. A replay finds the payout terminal and changes nothing."""
    resource = wechat.notification_parse(headers, body)
    bill = wechat.Bill.from_json(resource)
    payout_id = Payout.objects.filter(out_bill_no=bill.out_bill_no).values_list("pk", flat=True).first()
    if payout_id is None:
        raise NotFound(_("No payout has this out_bill_no."), code="payout_not_found")
    payout_record_bill(payout_id=payout_id, bill=bill)
    return Payout.objects.get(pk=payout_id)


def payouts_retry(*, payout_ids) -> tuple[list[int], list[int]]:
    """Operators: make open payouts due now (the step queries WeChat first). Terminal payouts are left alone.

    Returns (queued ids, skipped ids)."""
    queued, skipped = [], []
    with transaction.atomic():
        for payout in Payout.objects.filter(pk__in=list(payout_ids)).order_by("pk").select_for_update():
            if payout.is_terminal:
                skipped.append(payout.pk)
                continue
            # A fresh budget of attempts; the status still says "may have been sent", so the step queries first.
            payout.last_error = f"retried by an operator after {payout.attempts} attempts; before: {payout.last_error}"
            payout.attempts = 0
            payout.next_attempt_at = timezone.now()
            payout.save(update_fields=["attempts", "last_error", "next_attempt_at", "updated_at"])
            queued.append(payout.pk)
        for pk in queued:
            transaction.on_commit(lambda pk=pk: payout_enqueue(pk))
    return queued, skipped


def payouts_due(*, grace_seconds: float = SWEEP_GRACE_SECONDS, limit: int = 500) -> list[int]:
    cutoff = timezone.now() - timedelta(seconds=grace_seconds)
    return list(
        Payout.objects.filter(status__in=OPEN_STATUSES, next_attempt_at__lte=cutoff)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def payouts_sweep() -> int:
    """Re-publish payouts whose step is overdue (lost publish, worker died mid-step). Returns how many."""
    return sum(payout_enqueue(pk) for pk in payouts_due())


# --- audit -----------------------------------------------------------------------------------------------------

_EXPECTED_STEPS = {
    Payout.Status.SUCCEEDED: {"reserve", "settle"},
    Payout.Status.FAILED: {"reserve", "refund"},
}


def _rows(sql: str, params=None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall()


def payouts_match_ledger() -> list[str]:
    """Every payout has exactly the ledger legs of its status, with its amount, between the right accounts:
    succeeded = reserve + settle, failed = reserve + refund, still open = reserve only; the clearing account holds
    exactly the open payouts; no payout leg exists without its payout."""
    findings: list[str] = []
    legs: dict[int, dict[str, tuple]] = {}
    for payout_id, step, clearing, wallet, external in _rows(
        """SELECT p.id, split_part(t.idempotency_key, ':', 3),
                  COALESCE(SUM(e.amount) FILTER (WHERE a.kind = %s), 0),
                  COALESCE(SUM(e.amount) FILTER (WHERE a.kind = 'shopper_cash' AND a.user_id = p.beneficiary_id), 0),
                  COALESCE(SUM(e.amount) FILTER (WHERE a.kind = 'platform_external'), 0)
           FROM rebates_payout p
           JOIN rebates_ledgertransaction t ON t.reference = 'payout:' || p.id
           JOIN rebates_entry e ON e.transaction_id = t.id
           JOIN rebates_ledgeraccount a ON a.id = e.account_id
           GROUP BY p.id, t.id""",
        [PAYOUT_CLEARING],
    ):
        legs.setdefault(payout_id, {})[step] = (clearing, wallet, external)
    zero = Decimal("0.00")
    for payout_id, status, amount in Payout.objects.order_by("pk").values_list("pk", "status", "amount").iterator():
        found = legs.get(payout_id, {})
        expected = _EXPECTED_STEPS.get(status, {"reserve"})
        if set(found) != expected:
            findings.append(
                f"payout {payout_id} ({status}) has ledger legs {sorted(found)}, expected {sorted(expected)}"
            )
            continue
        shapes = {
            "reserve": (amount, -amount, zero),
            "settle": (-amount, zero, amount),
            "refund": (-amount, amount, zero),
        }
        for step in sorted(expected):
            if found[step] != shapes[step]:
                findings.append(
                    f"payout {payout_id} leg {step} moves (clearing, wallet, external) = {found[step]}, "
                    f"expected {shapes[step]}"
                )
        if len(findings) >= 100:
            return findings
    orphans = _rows(
        """SELECT t.id, t.reference FROM rebates_ledgertransaction t
           WHERE t.kind IN (%s, %s, %s)
             AND NOT EXISTS (SELECT 1 FROM rebates_payout p WHERE t.reference = 'payout:' || p.id)
           ORDER BY t.id LIMIT 100""",
        [LEDGER_KIND_RESERVE, LEDGER_KIND_SETTLE, LEDGER_KIND_REFUND],
    )
    findings += [f"ledger transaction {t} ({ref}) belongs to no payout" for t, ref in orphans]
    open_total = sum(
        Payout.objects.filter(status__in=OPEN_STATUSES).values_list("amount", flat=True), start=Decimal("0.00")
    )
    clearing = _rows("SELECT COALESCE(SUM(balance), 0) FROM rebates_ledgeraccount WHERE kind = %s", [PAYOUT_CLEARING])
    if clearing[0][0] != open_total:
        findings.append(f"payout clearing holds {clearing[0][0]} but open payouts total {open_total}")
    return findings
