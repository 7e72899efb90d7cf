"""Stable error codes of the order and packet paths; clients and tests match on the code."""

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
