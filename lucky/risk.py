"""Anti-fraud on the lucky-money path: the rules that refuse a send or a grab that launders value (docs/ANTIFRAUD.md,
"Lucky money"; measured by bench/fraud_corpus.py's laundering kinds).

Four rules, checked inside the send's or the grab's transaction (a refusal writes nothing of the send or the grab):

* **Sock puppets on one device** (`device_check`): a grab from a page device that more than
  `LUCKY_GRAB_DEVICE_MAX_ACCOUNTS` (2) accounts used in the last `LUCKY_DEVICE_DAYS` (30) days is refused. A phone
  is a person, or a couple sharing one; a phone with five accounts grabbing lucky money is one person taking five
  shares. An allow-listed device is never refused. API callers carry no device: this rule does not see them.
* **Rings** (`ring_check`): value that goes round the same 2–`LUCKY_RING_MAX_ACCOUNTS` (5) accounts. An edge a → b
  is *heavy* when, over the last `ANTIFRAUD_DETECT_WINDOW_DAYS` (7) days, the *directed* shares b grabbed of a's
  packets (a share of at least half its packet: a one-person packet, or most of one) add up to at least
  `LUCKY_RING_MIN_EDGE` (100.00) and to at least `LUCKY_RING_MIN_SHARE_PCT` (50) % of everything a's packets paid
  out in the window. A grab of a directed share *passed on* (its sender had grabbed a directed share worth ≥
  `LUCKY_PASS_THROUGH_PCT` (80) % of it in the `LUCKY_PASS_THROUGH_HOURS` (24) before sending) that leaves the
  sender → grabber edge heavy is refused when heavy edges lead from the grabber back to the sender (A → B → A,
  A → B → C → A, … up to the ring size). Family and class packets are split among many: no edge of theirs is heavy
  unless someone sends one person most of what they send, and that person passes it back within a day. The
  refusal writes a `circular_flow` finding ``lucky-ring:<sorted ids>`` naming the ring (its pending rebates are held
  like any finding's). A reviewer who dismisses it lets that ring's grabs through again.
* **Chains** (`chain_through`): the same heavy edges, one step earlier: the same passed-on directed grab is
  refused when a heavy edge from someone else leads into the sender — the sender passes on
  what one person gave them (the mules of a ring, before the ring closes). The finding is ``lucky-chain:<ids>``
  (giver, sender, grabber), dismissed like a ring's. Only the first hop of a ring or chain is ever paid.
* **Accounts named in a ring or chain finding** (`named_check`): while a lucky-ring or lucky-chain finding naming
  an account is open or confirmed, it can send no one-person packet, grab no directed share, and nobody can grab a
  directed share of its packets (they return to it on expiry). So a ring caught at its first refused grab moves
  nothing more one-to-one; its members' group packets split among many still go (what the ring rules never see).

The daily send and receive caps (lucky/services.py) bound each account whatever these rules say.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from itertools import pairwise

from django.conf import settings
from django.db.models import Case, DecimalField, F, Q, Sum, When
from django.utils import timezone

from accounts.models import DeviceUse
from antifraud.detectors import finding_record
from antifraud.detectors import setting as antifraud_setting
from antifraud.models import Finding, ListEntry

from . import errors
from .models import LuckyShare

RING_PREFIX = "lucky-ring:"
CHAIN_PREFIX = "lucky-chain:"
STANDING = (Finding.Status.OPEN, Finding.Status.CONFIRMED)


def _setting(name: str, default):
    return getattr(settings, name, default)


def ring_fingerprint(members, *, closed: bool = True) -> str:
    return (RING_PREFIX if closed else CHAIN_PREFIX) + "-".join(str(pk) for pk in sorted(members))


# --- sock puppets ---------------------------------------------------------------------------------------------------


def device_check(*, device_id: int | None) -> None:
    """Refuse a grab from a device too many accounts used (the caller recorded this user's use of it first)."""
    if device_id is None:
        return
    if ListEntry.objects.filter(list="allow", kind="device", value=str(device_id)).exists():  # as antifraud.assess
        return
    since = timezone.now() - timedelta(days=_setting("LUCKY_DEVICE_DAYS", 30))
    accounts = DeviceUse.objects.filter(device_id=device_id, last_seen__gte=since).values("user_id").distinct().count()
    if accounts > _setting("LUCKY_GRAB_DEVICE_MAX_ACCOUNTS", 2):
        raise errors.LuckyRiskRefused(errors.RISK_DEVICE, code="device_shared", details={"accounts": accounts})


# --- named accounts -------------------------------------------------------------------------------------------------


def named_check(*user_ids: int) -> None:
    """Refuse when any of `user_ids` is named in a standing lucky-ring finding."""
    if Finding.objects.filter(
        Q(fingerprint__startswith=RING_PREFIX) | Q(fingerprint__startswith=CHAIN_PREFIX),
        kind=Finding.Kind.CIRCULAR_FLOW,
        status__in=STANDING,
        user_ids__overlap=list(user_ids),
    ).exists():
        raise errors.LuckyRiskRefused(errors.RISK_UNDER_REVIEW, code="under_review")


# --- rings ----------------------------------------------------------------------------------------------------------


@dataclass
class Ring:
    members: list[int]  # in flow order: sender, grabber, …, back to the sender (a chain: giver, sender, grabber)
    edges: dict[tuple[int, int], Decimal]  # heavy edge → its directed value in the window
    closed: bool = True  # a ring; False: a chain of heavy gifts passed on

    @property
    def fingerprint(self) -> str:
        return ring_fingerprint(self.members, closed=self.closed)


def _heavy_edges_from(senders: set[int], since) -> dict[int, dict[int, Decimal]]:
    """sender → {grabber: directed value} of the heavy edges leaving `senders` in the window."""
    rows = (
        LuckyShare.objects.filter(packet__sender_id__in=senders, grabbed_by__isnull=False, grabbed_at__gte=since)
        .values("packet__sender_id", "grabbed_by_id")
        .annotate(
            paid=Sum("amount"),
            directed=Sum(
                Case(
                    When(Q(amount__gte=F("packet__total") / 2), then=F("amount")),
                    default=Decimal("0.00"),
                    output_field=DecimalField(max_digits=14, decimal_places=2),
                )
            ),
        )
    )
    paid_out: dict[int, Decimal] = defaultdict(Decimal)
    directed: dict[int, dict[int, Decimal]] = defaultdict(dict)
    for row in rows:
        sender, grabber = row["packet__sender_id"], row["grabbed_by_id"]
        paid_out[sender] += row["paid"]
        if row["directed"]:
            directed[sender][grabber] = row["directed"]
    minimum = _setting("LUCKY_RING_MIN_EDGE", Decimal("100.00"))
    pct = _setting("LUCKY_RING_MIN_SHARE_PCT", 50)
    return {
        sender: heavy
        for sender, targets in directed.items()
        if (heavy := {b: v for b, v in targets.items() if v >= minimum and v * 100 >= pct * paid_out[sender]})
    }


def ring_closed_by(*, sender_id: int, grabber_id: int, since=None) -> Ring | None:
    """The ring this grab (already claimed in the transaction) closes, if any: the sender → grabber edge is heavy and
    heavy edges lead from the grabber back to the sender in at most LUCKY_RING_MAX_ACCOUNTS − 1 steps."""
    since = since or timezone.now() - timedelta(days=antifraud_setting("DETECT_WINDOW_DAYS"))
    first = _heavy_edges_from({sender_id}, since).get(sender_id, {})
    if grabber_id not in first:
        return None
    edges = {(sender_id, grabber_id): first[grabber_id]}
    parent: dict[int, int] = {grabber_id: sender_id}
    frontier = {grabber_id}
    for _step in range(_setting("LUCKY_RING_MAX_ACCOUNTS", 5) - 1):
        heavy = _heavy_edges_from(frontier, since)
        nxt = set()
        for a in sorted(heavy):
            for b, value in sorted(heavy[a].items()):
                if b == sender_id:  # back where the money started: walk the parents to name the ring
                    path = [a]
                    while path[-1] != grabber_id:
                        path.append(parent[path[-1]])
                    members = [sender_id, *reversed(path)]
                    ring_edges = {(x, y): edges[(x, y)] for x, y in pairwise(members)}
                    ring_edges[(a, sender_id)] = value
                    return Ring(members=members, edges=ring_edges)
                if b not in parent:
                    parent[b] = a
                    edges[(a, b)] = value
                    nxt.add(b)
        if not nxt:
            return None
        frontier = nxt
    return None


def chain_through(*, sender_id: int, grabber_id: int, since=None) -> Ring | None:
    """The chain this grab extends, if any: the sender → grabber edge is heavy and so is an edge into the sender from
    someone else (the sender passes on what one person gave them to another)."""
    since = since or timezone.now() - timedelta(days=antifraud_setting("DETECT_WINDOW_DAYS"))
    out = _heavy_edges_from({sender_id}, since).get(sender_id, {})
    if grabber_id not in out:
        return None
    givers = set(
        LuckyShare.objects.filter(grabbed_by_id=sender_id, grabbed_at__gte=since, amount__gte=F("packet__total") / 2)
        .exclude(packet__sender_id=grabber_id)
        .values_list("packet__sender_id", flat=True)
        .distinct()
    )
    if not givers:
        return None
    heavy = _heavy_edges_from(givers, since)
    for giver in sorted(heavy):
        if sender_id in heavy[giver]:
            return Ring(
                members=[giver, sender_id, grabber_id],
                edges={(giver, sender_id): heavy[giver][sender_id], (sender_id, grabber_id): out[grabber_id]},
                closed=False,
            )
    return None


def passes_through(*, sender_id: int, sent_at, total: Decimal) -> bool:
    """Whether the sender had just grabbed a directed share worth most of this packet: one of at least
    LUCKY_PASS_THROUGH_PCT (80) % of its total, in the LUCKY_PASS_THROUGH_HOURS (24) before it was sent."""
    hours = _setting("LUCKY_PASS_THROUGH_HOURS", 24)
    pct = _setting("LUCKY_PASS_THROUGH_PCT", 80)
    return LuckyShare.objects.filter(
        Q(amount__gte=F("packet__total") / 2),
        grabbed_by_id=sender_id,
        grabbed_at__gte=sent_at - timedelta(hours=hours),
        grabbed_at__lte=sent_at,
        amount__gte=total * pct / 100,
    ).exists()


def _dismissed(fingerprint: str) -> bool:
    return Finding.objects.filter(
        kind=Finding.Kind.CIRCULAR_FLOW, fingerprint=fingerprint, status=Finding.Status.DISMISSED
    ).exists()


def ring_check(*, packet, grabber_id: int, amount: Decimal) -> None:
    """Refuse a directed share of a packet that passes on what its sender had just been given, when its grab closes a
    ring or extends a chain of heavy edges (module docstring), unless a reviewer dismissed that ring or chain."""
    if amount * 2 < packet.total:  # not directed: adds to no heavy edge, so it closes no ring and extends no chain
        return
    if not passes_through(sender_id=packet.sender_id, sent_at=packet.created_at, total=packet.total):
        return
    ring = ring_closed_by(sender_id=packet.sender_id, grabber_id=grabber_id)
    if ring is not None and not _dismissed(ring.fingerprint):
        raise errors.LuckyRingRefused(ring)
    chain = chain_through(sender_id=packet.sender_id, grabber_id=grabber_id)
    if chain is not None and not _dismissed(chain.fingerprint):
        raise errors.LuckyRingRefused(chain)


def ring_record(ring: Ring) -> Finding:
    """The finding of a refused grab (written after the grab's transaction rolled back)."""
    days = antifraud_setting("DETECT_WINDOW_DAYS")
    steps = " ".join(
        f"User #{a} gave user #{b} ¥{value} in one-person (or mostly one-person) shares."
        for (a, b), value in ring.edges.items()
    )
    if ring.closed:
        what = f"Lucky money went round a ring of {len(ring.members)} accounts in the last {days} days: {steps} "
        refused = "The grab that would have closed the ring again was refused"
    else:
        what = f"Lucky money was passed on from one account to the next in the last {days} days: {steps} "
        refused = f"User #{ring.members[2]}'s grab of what user #{ring.members[1]} passed on was refused"
    finding, _changed = finding_record(
        kind=Finding.Kind.CIRCULAR_FLOW,
        fingerprint=ring.fingerprint,
        user_ids=ring.members,
        merchant_id=None,
        explanation=(
            what + refused + ", and these accounts can neither send nor grab lucky money until this finding is "
            "dismissed. People who really give each other (or pass on) most of what they send can look alike: look at "
            "how much, how often, and where the money came from."
        ),
        evidence={
            "window_days": days,
            "members": ring.members,
            "closed": ring.closed,
            "edges": [{"from": a, "to": b, "value": str(v)} for (a, b), v in ring.edges.items()],
            "refs": [f"user:{pk}" for pk in ring.members],
        },
    )
    return finding
