"""Lucky money's refusals: stable codes clients match on, messages as constants so tests assert them."""

from django.utils.translation import gettext_lazy as _

from common.errors import ApplicationError, Conflict, NotFound

TOTAL_TOO_LARGE = _("A lucky packet may hold at most %(limit)s.")
TOO_MANY_SHARES = _("A lucky packet has between 1 and %(limit)s shares.")
TOTAL_BELOW_ONE_FEN_PER_SHARE = _("Each share needs at least 0.01: the total must be at least %(minimum)s.")
UNEVEN_EQUAL_SPLIT = _("%(total)s does not divide into %(count)s equal shares.")
DAILY_LIMIT = _("You can send at most %(limit)s in lucky packets a day; %(left)s is left today.")
NOT_A_MEMBER = _("Only members of the group can do this.")
SEND_TO_SELF = _("You cannot send a lucky packet to yourself.")
ONE_PERSON_ONE_SHARE = _("A packet for one person has exactly one share.")
NO_FUNDS = _("Your cash wallet does not hold enough for this packet.")
ALL_GRABBED = _("All grabbed: this lucky packet is gone.")
EXPIRED = _("This lucky packet has expired.")
PACKET_NOT_FOUND = _("No such lucky packet.")
GROUP_NOT_FOUND = _("No such group.")
INVITATION_NOT_FOUND = _("This invitation link is not valid.")
RECIPIENT_NOT_FOUND = _("No such person.")
GROUP_OR_RECIPIENT = _("Send to a group (group_id) or to one person (recipient_id), not both.")
SEND_RATE_LIMITED = _("Too many lucky packets sent in a short time. Please wait a minute and try again.")
GRAB_RATE_LIMITED = _("Too many grabs in a short time. Please wait a minute and try again.")
DAILY_RECEIVE_LIMIT = _("You can receive at most %(limit)s in lucky packets a day; %(left)s is left today.")
OWNER_CANNOT_LEAVE = _("The owner of a group cannot leave it.")
RISK_DEVICE = _("Too many accounts use this device: lucky packets cannot be grabbed from it.")
RISK_RING = _(
    "Refused: lucky money keeps going round the same few accounts. A reviewer will look at it; the share stays in the "
    "packet."
)
NOT_A_LUCKY_CAMPAIGN = _("This campaign does not give out lucky-money packets now.")
RISK_UNDER_REVIEW = _("Lucky money is paused for this account while a reviewer looks at it.")


class LuckyError(ApplicationError):
    code = "lucky_error"


class LuckyLimitExceeded(LuckyError):
    code = "lucky_limit_exceeded"


class LuckyNotAMember(ApplicationError):
    status_code = 403
    code = "not_a_member"


class LuckyNoFunds(Conflict):
    code = "insufficient_funds"


class LuckyReceiveLimitReached(Conflict):
    code = "daily_receive_limit_reached"


class LuckyRiskRefused(ApplicationError):
    """A send or grab refused by an anti-fraud rule of lucky/risk.py (sock puppets, rings, accounts under review)."""

    status_code = 403
    code = "risk_blocked"


class LuckyRingRefused(LuckyRiskRefused):
    """A grab that would close a ring of heavy flows; carries the ring for the finding (lucky.risk.ring_record)."""

    def __init__(self, ring):
        super().__init__(RISK_RING, code="lucky_ring", details={"accounts": len(ring.members)})
        self.ring = ring


class LuckyOwnerCannotLeave(Conflict):
    code = "owner_cannot_leave"


class LuckyAllGrabbed(Conflict):
    code = "all_grabbed"


class LuckyExpired(Conflict):
    status_code = 410
    code = "packet_expired"


class LuckyNotFound(NotFound):
    code = "not_found"


class LuckyRateLimited(ApplicationError):
    """The send or grab path's request-rate limit (per account, IP and device) turned the request away."""

    status_code = 429
    code = "rate_limited"
