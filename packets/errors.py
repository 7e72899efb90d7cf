"""Stable error codes of the order and packet paths; clients and tests match on the code."""

from django.utils.translation import gettext_lazy as _

from common.errors import ApplicationError, Conflict, NotFound, Unprocessable


class PacketNotFound(NotFound):
    code = "packet_not_found"


class PacketUnusable(Conflict):
    """The packet exists but its state forbids use now: used, expired, revoked, campaign not running."""


class PacketRuleNotMet(Unprocessable):
    """The order does not satisfy the packet's terms: minimum spend, categories, the merchant it is spent at."""


class BudgetExhausted(Conflict):
    code = "budget_exhausted"


class OrderNumberTaken(Conflict):
    code = "order_no_exists"


class InvalidOrder(ApplicationError):
    code = "invalid_order"


class PointsRefused(Conflict):
    code = "insufficient_points"


class RefundTooLarge(Unprocessable):
    code = "refund_exceeds_order"


class OrderAlreadyRefunded(Conflict):
    code = "order_already_refunded"


RULE_NOT_MET_CODES = {"packet_min_spend_not_met", "packet_category_not_allowed", "packet_not_accepted_here"}

# Why a packet an order earned was not issued (PacketNotIssued.code), in the reader's language: the merchant's
# server (the order reply) and the shopper (the order page) read the same words.
NOT_ISSUED_MESSAGES = {
    "budget_exhausted": _("The campaign's budget is used up, so this red packet was not issued."),
    "daily_budget_cap_reached": _(
        "The campaign has given out as much as it may today, so this red packet was not issued."
    ),
    "campaign_limit_reached": _("The campaign has given out all its red packets, so this one was not issued."),
    "per_user_limit_reached": _("You already received as many red packets of this campaign as it allows."),
    "account_daily_limit": _("You have received as many red packets of this campaign as it allows today."),
    "ip_daily_limit": _("Your network has received as many red packets of this campaign as it allows today."),
    "device_daily_limit": _("This device has received as many red packets of this campaign as it allows today."),
    "ip_too_soon": _("Red packets from one network must be a few minutes apart, so this one was not issued."),
    "device_too_soon": _("Red packets on one device must be a few minutes apart, so this one was not issued."),
    "device_banned": _("This device can no longer receive red packets."),
}


def not_issued_message(code: str) -> str:
    if code in NOT_ISSUED_MESSAGES:
        return str(NOT_ISSUED_MESSAGES[code])
    return str(_("This red packet was not issued (%(code)s).")) % {"code": code}
