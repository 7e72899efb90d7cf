"""What anti-fraud does when a lower layer announces something (common.events); subscribed in AntifraudConfig."""

from rebates.events import RebateBlocked

from .services import rebate_reject


def reject_blocked_rebate(event: RebateBlocked) -> None:
    rebate_reject(rebate_id=event.rebate_id, actor=None, reason=event.reason)
