"""Shopping trails: browse, compare-price, add-to-cart and checkout steps per session, and how plausible the trail
behind an order looks.

Sessions are namespaced by whoever writes to them — a merchant's server (`m<merchant id>:<session id>`), the
shopper's own client (`u<user id>:<session id>`) or the pages (`page:<random id kept in the Django session>`) — and
bound to the first account written to, so nobody can add events to another account's trail. The server stamps
each event's time: a client cannot backdate a plausible trail. A replayed event (same id) is recorded once."""

import hashlib
import itertools
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User

from .errors import TrailSessionNotFound
from .models import TrailEvent, TrailSession

SESSION_ID = re.compile(r"^[A-Za-z0-9_\-]{8,64}$")
# A shape is compared with other accounts' only from this many steps: one or two whole-second gaps of ~10–120 s
# take a few hundred values, so honest shoppers share short shapes every day; three gaps take about a million.
SIGNATURE_MIN_STEPS = 3
PAGE_TRAIL = "antifraud_trail"


def merchant_session_key(merchant_id: int, session_id: str) -> str:
    return f"m{merchant_id}:{session_id}"


def shopper_session_key(user_id: int, session_id: str) -> str:
    return f"u{user_id}:{session_id}"


def page_session_key(request) -> str:
    """The pages' trail id, kept in the Django session (it survives the log-in's session key rotation)."""
    trail = request.session.get(PAGE_TRAIL)
    if not trail:
        trail = request.session[PAGE_TRAIL] = secrets.token_urlsafe(12)
    return f"page:{trail}"


def _session(key: str, user: User) -> TrailSession:
    session = TrailSession.objects.filter(key=key).first()
    if session is None:
        try:
            with transaction.atomic():
                session = TrailSession.objects.create(key=key, user=user)
        except IntegrityError:  # a concurrent first event of the same session
            session = TrailSession.objects.get(key=key)
    if session.user_id != user.pk:
        raise TrailSessionNotFound(_("No such session for this shopper."))
    return session


@dataclass(frozen=True)
class Recorded:
    event_id: str
    duplicate: bool


def trail_event_record(
    *, key: str, user: User, event_id: str, kind: str, sku: str = "", now: datetime | None = None
) -> Recorded:
    """Record one step. A replay of the same event id in the same session changes nothing."""
    session = _session(key, user)
    _, created = TrailEvent.objects.get_or_create(
        session=session, event_id=event_id, defaults={"kind": kind, "sku": sku[:64], "at": now or timezone.now()}
    )
    return Recorded(event_id, duplicate=not created)


def page_step(request, kind: str, sku: str = "") -> None:
    """A page hook: the signed-in shopper just did `kind` (each page view is its own event)."""
    if request.user.is_authenticated:
        trail_event_record(
            key=page_session_key(request), user=request.user, event_id=secrets.token_hex(8), kind=kind, sku=sku
        )


# --- plausibility -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrailVerdict:
    events: int
    seconds: int  # from the first step to the order
    kinds: frozenset[str]
    signature: str  # kinds in order + whole-second gaps: the shape a script repeats ("" below SIGNATURE_MIN_STEPS)
    twins: int  # other accounts whose trails had exactly this shape in the last day


def _signature(steps: list[tuple[str, datetime]], order_at: datetime) -> str:
    times = [at for _, at in steps] + [order_at]
    gaps = [int((b - a).total_seconds()) for a, b in itertools.pairwise(times)]
    shape = "|".join(kind for kind, _ in steps) + "/" + ",".join(map(str, gaps))
    return hashlib.sha256(shape.encode()).hexdigest()[:32]


def trail_verdict(*, keys: tuple[str, ...], user: User, order_at: datetime) -> TrailVerdict:
    """Look at this shopper's trail(s) in the hours before the order, and sign the sessions with its shape."""
    since = order_at - timedelta(hours=settings.ANTIFRAUD_TRAIL_HOURS)
    sessions = list(TrailSession.objects.filter(key__in=keys, user=user))
    steps = list(
        TrailEvent.objects.filter(session__in=sessions, at__gte=since, at__lte=order_at)
        .order_by("at", "pk")
        .values_list("kind", "at")
    )
    if not steps:
        return TrailVerdict(0, 0, frozenset(), "", 0)
    seconds = int((order_at - steps[0][1]).total_seconds())
    kinds = frozenset(kind for kind, _ in steps)
    if len(steps) < SIGNATURE_MIN_STEPS:
        return TrailVerdict(len(steps), seconds, kinds, "", 0)
    signature = _signature(steps, order_at)
    twins = (
        TrailSession.objects.filter(signature=signature, signed_at__gte=order_at - timedelta(days=1))
        .exclude(user=user)
        .values("user")
        .distinct()
        .count()
    )
    TrailSession.objects.filter(pk__in=[s.pk for s in sessions]).update(signature=signature, signed_at=order_at)
    return TrailVerdict(events=len(steps), seconds=seconds, kinds=kinds, signature=signature, twins=twins)
