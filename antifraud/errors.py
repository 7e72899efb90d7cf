"""Anti-fraud errors: stable codes clients match on. (Shared file: limits/assessment errors first, review next.)"""

from common.errors import ApplicationError, Conflict


class EarningLimitReached(ApplicationError):
    """A per-IP, per-device or per-account limit of the campaign, or the minimum interval, refused the packet."""

    status_code = 429
    code = "earning_limit_reached"


class RiskBlocked(ApplicationError):
    """The risk assessment blocked this redemption under the campaign's policy. The verdict's evidence is kept (as an
    attempt) once the order's transaction has rolled back; the reply names the reasons, not the scores' inner data."""

    status_code = 403
    code = "risk_blocked"

    def __init__(self, message: str = "", *, evidence: dict, **kwargs):
        super().__init__(message, **kwargs)
        self.evidence = evidence

    def after_rollback(self) -> None:
        from .assess import attempt_record

        attempt_record(self)


class InvalidDeviceId(ApplicationError):
    code = "invalid_device_id"


class TrailSessionNotFound(ApplicationError):
    """Events for a session that belongs to another account: refused like an unknown session (no existence leak)."""

    status_code = 404
    code = "session_not_found"


# --- review, penalties, appeals, scam guard ------------------------------------------------------------------------


class ReasonRequired(ApplicationError):
    """An operator's review decision or penalty must say why: the reason is kept in the review trail."""

    code = "reason_required"


class PacketNotRevocable(Conflict):
    """Only an unused packet can be revoked: a used packet's value is spent (reverse its rebates instead), an
    expired one's value already went back to its funder."""

    code = "packet_not_revocable"


class AlreadyDecided(Conflict):
    """The finding, appeal or approval was already decided the other way; a decision is not silently flipped."""

    code = "already_decided"


class CampaignNeedsApproval(Conflict):
    """The scam guard flagged the campaign's shape: it goes live only once a platform operator approves it."""

    code = "campaign_needs_approval"
