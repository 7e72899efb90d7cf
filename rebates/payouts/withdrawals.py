"""The wallet page's "withdraw to WeChat": what the form offers, how a typed amount is read, and what each payout's
state says to the shopper.

Reads only, plus the session's one-time tokens. The payout itself is requested by `payouts.payout_request`, the
service the API calls, at most once per token: the view runs it under `common.idempotency.run_once` with the token as
the key, so a double tap, a second tab or the back button's resubmit finds the first payout instead of making another.
"""

import unicodedata
import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.selectors import merchant_of
from common.errors import ApplicationError
from common.money import CNY, ZERO, MoneyError, format_cny, parse_amount

from ..models import AccountKind, LedgerAccount
from . import services as payouts
from . import wechat
from .models import Payout

TOKENS_SESSION_KEY = "wallet_withdraw_tokens"  # one-time tokens of the withdraw forms this session was shown
MAX_TOKENS = 20  # open wallet pages remembered per session; the oldest is forgotten first
PAYOUTS_SHOWN = 20


# --- one-time tokens -----------------------------------------------------------------------------------------------


def token_issue(session) -> str:
    tokens = list(session.get(TOKENS_SESSION_KEY) or [])
    token = str(uuid.uuid4())
    session[TOKENS_SESSION_KEY] = [*tokens, token][-MAX_TOKENS:]
    return token


def token_known(session, token: uuid.UUID) -> bool:
    return str(token) in (session.get(TOKENS_SESSION_KEY) or [])


def token_spend(session, token: uuid.UUID) -> None:
    session[TOKENS_SESSION_KEY] = [t for t in session.get(TOKENS_SESSION_KEY) or [] if t != str(token)]


def token_parse(raw) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(raw or ""))
    except ValueError:
        return None


# --- what the form offers ------------------------------------------------------------------------------------------


def cash_balance(user: User) -> Decimal:
    balance = (
        LedgerAccount.objects.filter(kind=AccountKind.SHOPPER_CASH, currency=CNY, user=user)
        .values_list("stored_balance", flat=True)
        .first()
    )
    return balance or ZERO


@dataclass(frozen=True)
class WithdrawOffer:
    withdrawable: Decimal
    unavailable: str = ""  # why the shopper cannot withdraw at all right now (the form is not shown)

    @property
    def minimum(self) -> Decimal:
        return settings.WECHATPAY_MIN_PAYOUT

    @property
    def maximum(self) -> Decimal:
        return settings.WECHATPAY_MAX_PAYOUT

    @property
    def most(self) -> Decimal:
        """What one withdrawal can take now: the whole cash balance, up to WeChat's limit for one transfer."""
        return min(self.withdrawable, self.maximum)

    @property
    def enough(self) -> bool:
        return self.withdrawable >= self.minimum

    @property
    def default_amount(self) -> str:
        return f"{self.most:.2f}" if self.enough else ""

    @property
    def withdrawable_display(self) -> str:
        return format_cny(self.withdrawable)

    @property
    def limits_text(self) -> str:
        return _("%(min)s to %(max)s per withdrawal.") % {
            "min": format_cny(self.minimum),
            "max": format_cny(self.maximum),
        }

    @property
    def too_little_text(self) -> str:
        return _("You can withdraw once you have at least %(min)s in cash.") % {"min": format_cny(self.minimum)}


def withdraw_offer(user: User) -> WithdrawOffer | None:
    """None for merchant staff (their wallet holds no shopper cash)."""
    if merchant_of(user) is not None:
        return None
    withdrawable = cash_balance(user)
    if not wechat.is_configured():
        return WithdrawOffer(withdrawable, unavailable=SERVICE_MESSAGES["wechat_not_configured"]())
    try:
        payouts.openid_for(user)
    except ApplicationError:
        return WithdrawOffer(withdrawable, unavailable=SERVICE_MESSAGES["wechat_not_linked"]())
    return WithdrawOffer(withdrawable)


# --- reading the amount --------------------------------------------------------------------------------------------


class AmountError(ValueError):
    """The typed amount cannot be withdrawn; the message is for the shopper, in their language."""


def amount_parse(raw: str, *, withdrawable: Decimal) -> Decimal:
    """The amount typed in yuan, or AmountError saying why it cannot be withdrawn.

    Full-width digits, a leading ¥/￥, a trailing 元, spaces and thousands separators are what a phone keyboard types,
    so they are taken off first; what remains must be the project's one amount grammar (common.money.parse_amount) —
    a sign, a third decimal, letters, an exponent are refused, never rounded."""
    text = unicodedata.normalize("NFKC", raw or "").strip().replace(",", "").replace(" ", "")
    text = text.removeprefix("¥").removesuffix("元")
    if not text:
        raise AmountError(_("Enter the amount to withdraw."))
    try:
        amount = parse_amount(text)
    except MoneyError as exc:
        raise AmountError(_("Enter an amount in yuan with at most two decimals, like 12.50.")) from exc
    if amount < settings.WECHATPAY_MIN_PAYOUT:
        raise AmountError(_("A withdrawal is at least %(min)s.") % {"min": format_cny(settings.WECHATPAY_MIN_PAYOUT)})
    if amount > withdrawable:
        raise AmountError(
            _("That is more than your withdrawable cash of %(cash)s.") % {"cash": format_cny(withdrawable)}
        )
    if amount > settings.WECHATPAY_MAX_PAYOUT:
        raise AmountError(
            _("One withdrawal is at most %(max)s. Withdraw the rest in another one.")
            % {"max": format_cny(settings.WECHATPAY_MAX_PAYOUT)}
        )
    return amount


# The payout service's refusals, in the shopper's language (functions: translated when shown, not at import).
SERVICE_MESSAGES = {
    "insufficient_funds": lambda: _("Your cash balance no longer covers this amount. Please check it and try again."),
    "invalid_amount": lambda: _("Enter an amount in yuan with at most two decimals, like 12.50."),
    "amount_below_minimum": lambda: (
        _("A withdrawal is at least %(min)s.") % {"min": format_cny(settings.WECHATPAY_MIN_PAYOUT)}
    ),
    "amount_above_maximum": lambda: (
        _("One withdrawal is at most %(max)s. Withdraw the rest in another one.")
        % {"max": format_cny(settings.WECHATPAY_MAX_PAYOUT)}
    ),
    "wechat_not_linked": lambda: _(
        "Your account is not linked to WeChat yet, so there is nowhere to send the money. Link WeChat first; your "
        "cash stays safe in your wallet meanwhile."
    ),
    "wechat_not_configured": lambda: _(
        "Withdrawals to WeChat are not available right now. Your cash stays safe in your wallet; please try later."
    ),
    "not_a_shopper": lambda: _("Merchant staff accounts cannot withdraw shopper cash."),
}
# Refusals about the amount are shown next to the field; the rest at the top of the form.
AMOUNT_ERROR_CODES = {"insufficient_funds", "invalid_amount", "amount_below_minimum", "amount_above_maximum"}


def service_message(code: str) -> str:
    if code in SERVICE_MESSAGES:
        return str(SERVICE_MESSAGES[code]())
    return _("The withdrawal could not be requested (%(code)s). Please try again.") % {"code": code}


# --- the payout list -----------------------------------------------------------------------------------------------

# WeChat's fail_reason codes a shopper can act on, by what they mean; any other is shown with its code.
FAIL_REASONS = [
    ({"ACCOUNT_FROZEN"}, lambda: _("Your WeChat account is frozen.")),
    ({"ACCOUNT_NOT_EXIST", "OPENID_INVALID"}, lambda: _("WeChat could not find the receiving account.")),
    (
        {"REAL_NAME_CHECK_FAIL", "NAME_NOT_CORRECT", "ID_CARD_NOT_CORRECT"},
        lambda: _("Your WeChat account has not passed real-name verification."),
    ),
    (
        {"TRANSFER_QUOTA_EXCEED", "DAY_RECEIVED_QUOTA_EXCEED", "MONTH_RECEIVED_QUOTA_EXCEED"}
        | {"DAY_RECEIVED_COUNT_EXCEED"},
        lambda: _("Your WeChat account has reached its limit for receiving money. Try later."),
    ),
    ({"TRANSFER_RISK"}, lambda: _("WeChat Pay's risk control stopped this transfer.")),
    ({"PAYEE_ACCOUNT_ABNORMAL"}, lambda: _("WeChat Pay reports a problem with the receiving account.")),
    ({"CANCELLED", "OVERDUE_CLOSE"}, lambda: _("It was not confirmed in WeChat in time.")),
]


def fail_reason_text(code: str) -> str:
    explain = next((text for codes, text in FAIL_REASONS if code in codes), None)
    reason = explain() if explain else _("WeChat Pay could not pay it (%(code)s).") % {"code": code or "?"}
    return _("%(reason)s The money is back in your wallet.") % {"reason": reason}


def payout_row(payout: Payout) -> dict:
    """One withdrawal as the shopper reads it: amount, date, bill number, state and what it means."""
    status = payout.status
    if status == Payout.Status.SUCCEEDED:
        state, tone, label, note = "succeeded", "ok", _("Paid to WeChat"), ""
    elif status == Payout.Status.FAILED:
        state, tone, label, note = "failed", "danger", _("Failed"), fail_reason_text(payout.fail_reason)
    elif status == Payout.Status.REQUESTED:
        state, tone, label, note = "requested", "info", _("Requested"), ""
    else:  # in flight, or retrying after an attempt whose outcome is not known yet: on its way either way
        state, tone, label = "in_flight", "warn", _("In progress")
        note = (
            _("Open WeChat and confirm receipt to get the money.")
            if payout.awaiting_user_confirmation
            else _("Usually in your WeChat balance within minutes.")
        )
    return {
        "payout": payout,
        "amount": format_cny(payout.amount),
        "date": formats.date_format(timezone.localtime(payout.created_at), "Y-m-d H:i"),
        "state": state,
        "tone": tone,
        "label": label,
        "note": note,
    }


def payout_rows(user: User) -> list[dict]:
    recent = Payout.objects.filter(beneficiary=user).order_by("-created_at", "-pk")[:PAYOUTS_SHOWN]
    return [payout_row(p) for p in recent]
