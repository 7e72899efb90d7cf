"""Anti-fraud errors: stable codes clients match on. (Shared file: limits/assessment errors first, review next.)"""

from common.errors import ApplicationError


class EarningLimitReached(ApplicationError):
    """A per-IP, per-device or per-account limit of the campaign, or the minimum interval, refused the packet."""

    status_code = 429
    code = "earning_limit_reached"


class RiskBlocked(ApplicationError):
    """The risk assessment blocked this redemption under the campaign's policy."""

    status_code = 403
    code = "risk_blocked"


class InvalidDeviceId(ApplicationError):
    code = "invalid_device_id"


class TrailSessionNotFound(ApplicationError):
    """Events for a session that belongs to another account: refused like an unknown session (no existence leak)."""

    status_code = 404
    code = "session_not_found"
