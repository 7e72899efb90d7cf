"""Every write of lucky money: groups, sending (split + funding), grabbing, settling (best luck, expiry)."""

from datetime import datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from campaigns.models import Campaign, EarnRule
from common.money import from_minor, to_minor
from packets.codes import new_code
from packets.models import Packet

from . import errors, ledger, risk
from .lock_objects import free_share_claim, free_shares_lock, grabber_lock, packet_lock, sender_lock
from .models import LuckyGroup, LuckyMembership, LuckyPacket, LuckyShare
from .split import double_mean_split, equal_split


@transaction.atomic
def group_create(*, owner, name: str) -> LuckyGroup:
    group = LuckyGroup.objects.create(owner=owner, name=name)
    LuckyMembership.objects.create(group=group, user=owner)
    return group


@transaction.atomic
def group_join(*, user, invite_token: str) -> LuckyGroup:
    """Join through the invitation link; joining twice is joining once."""
    group = LuckyGroup.objects.filter(invite_token=invite_token).first()
    if group is None:
        raise errors.LuckyNotFound(errors.INVITATION_NOT_FOUND, code="invitation_not_found")
    LuckyMembership.objects.get_or_create(group=group, user=user)
    return group


@transaction.atomic
def group_leave(*, group: LuckyGroup, user) -> None:
    """Leave a group: its packets are no longer the leaver's to see or grab; what they sent stays in the room (and
    comes back to them on expiry), what they grabbed stays theirs. The owner stays: a group always has one."""
    if group.owner_id == user.pk:
        raise errors.LuckyOwnerCannotLeave(errors.OWNER_CANNOT_LEAVE)
    deleted, _ = LuckyMembership.objects.filter(group=group, user=user).delete()
    if not deleted:
        raise errors.LuckyNotFound(errors.GROUP_NOT_FOUND, code="group_not_found")


def _day_start(now: datetime) -> datetime:
    """Midnight of today in the project's time zone (the day a person's daily total counts)."""
    return timezone.make_aware(datetime.combine(timezone.localdate(now), time.min))


def _check_limits(*, kind: str, total: Decimal, share_count: int) -> list[int]:
    """The limits of settings.LUCKY_*, then the split itself (in fen)."""
    if total > settings.LUCKY_MAX_TOTAL:
        raise errors.LuckyLimitExceeded(
            errors.TOTAL_TOO_LARGE % {"limit": settings.LUCKY_MAX_TOTAL}, code="total_too_large"
        )
    if not 1 <= share_count <= settings.LUCKY_MAX_SHARES:
        raise errors.LuckyLimitExceeded(
            errors.TOO_MANY_SHARES % {"limit": settings.LUCKY_MAX_SHARES}, code="share_count_out_of_range"
        )
    total_fen = to_minor(total)
    if total_fen < share_count:
        raise errors.LuckyLimitExceeded(
            errors.TOTAL_BELOW_ONE_FEN_PER_SHARE % {"minimum": from_minor(share_count)}, code="total_below_one_fen_each"
        )
    if kind == LuckyPacket.Kind.RANDOM:
        return double_mean_split(total_fen, share_count)
    shares = equal_split(total_fen, share_count)
    if shares is None:
        raise errors.LuckyError(
            errors.UNEVEN_EQUAL_SPLIT % {"total": total, "count": share_count}, code="uneven_equal_split"
        )
    return shares


def lucky_campaign_rule(campaign: Campaign) -> EarnRule:
    """The packet terms (minimum spend, categories, validity) of a platform lucky-money campaign: a live campaign
    without a merchant, for person → person packets, with an earn rule (its first). Anything else is refused."""
    rule = campaign.earn_rules.order_by("pk").first()
    if (
        campaign.merchant_id is not None
        or campaign.participants != Campaign.Participants.PERSON_PERSON
        or not campaign.is_live()
        or rule is None
    ):
        raise errors.LuckyError(errors.NOT_A_LUCKY_CAMPAIGN, code="not_a_lucky_campaign")
    return rule


@transaction.atomic
def packet_send(
    *,
    sender,
    kind: str,
    total: Decimal,
    share_count: int,
    message: str = "",
    group: LuckyGroup | None = None,
    recipient=None,
    campaign: Campaign | None = None,
) -> LuckyPacket:
    """Split the packet, store its shares, and move its total from the sender's cash wallet into the escrow — all in
    one transaction, so a refusal (limits, membership, funds) writes nothing. `campaign`: send it as spendable red
    packets of that lucky-money campaign (each grabbed share becomes one; cash when None)."""
    if campaign is not None:
        lucky_campaign_rule(campaign)
    if (group is None) == (recipient is None):
        raise ValueError("a packet goes to a group or to one person")
    if recipient is not None:
        if recipient.pk == sender.pk:
            raise errors.LuckyError(errors.SEND_TO_SELF, code="send_to_self")
        if share_count != 1:
            raise errors.LuckyError(errors.ONE_PERSON_ONE_SHARE, code="one_person_one_share")
    if group is not None and not LuckyMembership.objects.filter(group=group, user=sender).exists():
        raise errors.LuckyNotAMember(errors.NOT_A_MEMBER)
    fen_shares = _check_limits(kind=kind, total=total, share_count=share_count)
    if recipient is not None:  # a one-person packet is all directed: a named account may not send one
        risk.named_check(sender.pk)

    sender_lock(sender.pk)  # two sends of one person take turns from here, so the daily total holds
    now = timezone.now()
    sent_today = LuckyPacket.objects.filter(sender=sender, created_at__gte=_day_start(now)).aggregate(s=Sum("total"))[
        "s"
    ] or Decimal("0.00")
    if sent_today + total > settings.LUCKY_DAILY_SEND_LIMIT:
        raise errors.LuckyLimitExceeded(
            errors.DAILY_LIMIT
            % {"limit": settings.LUCKY_DAILY_SEND_LIMIT, "left": max(settings.LUCKY_DAILY_SEND_LIMIT - sent_today, 0)},
            code="daily_limit_reached",
        )
    packet = LuckyPacket.objects.create(
        sender=sender,
        group=group,
        recipient=recipient,
        kind=kind,
        total=total,
        share_count=share_count,
        message=message,
        campaign=campaign,
        created_at=now,
        expires_at=now + timedelta(hours=settings.LUCKY_EXPIRY_HOURS),
    )
    LuckyShare.objects.bulk_create(
        [LuckyShare(packet=packet, position=i, amount=from_minor(fen)) for i, fen in enumerate(fen_shares)]
    )
    # The seam for "pay the rest by WeChat Pay": a payment would credit the wallet before this same posting.
    try:
        ledger.post_send(packet_id=packet.pk, sender_id=sender.pk, total=total)
    except ledger.InsufficientFunds:
        raise errors.LuckyNoFunds(errors.NO_FUNDS) from None
    return packet


def may_grab(packet: LuckyPacket, user) -> bool:
    if packet.recipient_id is not None:
        return packet.recipient_id == user.pk
    return LuckyMembership.objects.filter(group_id=packet.group_id, user=user).exists()


def packet_grab(*, packet: LuckyPacket, user, device=None) -> LuckyShare:
    """Claim one share for `user` and pay it: at most one per person (a repeat returns the same share), never
    waiting for other grabbers. The caller has checked that `user` may see the packet (else a 404). `device`: the
    page's device row (antifraud.devices.request_device), None on the API; lucky/risk.py's rules refuse what
    launders value."""
    if not may_grab(packet, user):
        raise errors.LuckyNotAMember(errors.NOT_A_MEMBER)
    try:
        share = _grab(packet=packet, user=user, device=device)
    except errors.LuckyRingRefused as refused:
        risk.ring_record(refused.ring)  # the claim has rolled back; the finding stays
        raise
    # After the claim committed: the grabber who took the last share marks the best luck (`packet_settle` is a
    # no-op while shares are free, and for everyone after the first to settle).
    transaction.on_commit(lambda: packet_settle(packet_id=packet.pk))
    return share


def _grab(*, packet: LuckyPacket, user, device=None) -> LuckyShare:
    mine = LuckyShare.objects.filter(packet=packet, grabbed_by=user).first()
    if mine is not None:
        return mine
    if packet.status == LuckyPacket.Status.EXPIRED or packet.expires_at <= timezone.now():
        raise errors.LuckyExpired(errors.EXPIRED)
    if packet.status == LuckyPacket.Status.GRABBED_OUT:
        # Settled: no share is free and none will be. Most of a burst's grabbers arrive here; they are answered
        # without the lock, the claim and the "why none left" query.
        raise errors.LuckyAllGrabbed(errors.ALL_GRABBED)
    if device is not None:
        risk.device_check(device_id=device.pk)
    try:
        with transaction.atomic():
            grabber_lock(user.pk)  # this person's grabs take turns from here, so the daily received total holds
            claimed = free_share_claim(packet_id=packet.pk, grabber_id=user.pk)
            if claimed is None:
                raise _none_left(packet.pk)
            share_id, amount = claimed
            _check_daily_receive_limit(user=user, share_id=share_id, amount=amount)
            if amount * 2 >= packet.total:  # a directed share: the laundering rules' business (lucky/risk.py)
                risk.named_check(user.pk, packet.sender_id)
                risk.ring_check(packet=packet, grabber_id=user.pk, amount=amount)
            ledger.post_grab(packet_id=packet.pk, grabber_id=user.pk, amount=amount, campaign_id=packet.campaign_id)
            if packet.campaign_id is not None:
                spendable = _spendable_issue(packet=packet, grabber=user, amount=amount)
                LuckyShare.objects.filter(pk=share_id).update(spendable=spendable)
    except IntegrityError:
        # The same person's other grab (a double tap) won the unique (packet, grabber) race and has committed.
        return LuckyShare.objects.get(packet=packet, grabbed_by=user)
    return LuckyShare.objects.get(pk=share_id)


def _spendable_issue(*, packet: LuckyPacket, grabber, amount: Decimal) -> Packet:
    """The red packet a grabbed share of a campaign packet becomes: the grabber holds it, the sender is its issuer
    (paid the campaign's issuer rebate when it is spent), its value sits in the campaign's packets outstanding (posted
    by the grab) and whatever of it goes unused returns to the sender's cash (its funding account). A campaign that
    ended since the send refuses the grab; the share goes back to the sender with the rest on expiry."""
    rule = lucky_campaign_rule(Campaign.objects.get(pk=packet.campaign_id))  # as it is now, not as at the send
    now = timezone.now()
    return Packet.objects.create(
        code=new_code(),
        campaign_id=packet.campaign_id,
        earn_rule=rule,
        issuer_merchant=None,
        issuer_user_id=packet.sender_id,
        holder=grabber,
        amount=amount,
        min_spend=rule.min_spend,
        categories=rule.allowed_categories,
        denied_categories=rule.denied_categories,
        issued_at=now,
        expires_at=now + timedelta(days=rule.valid_days),
        funding_account=ledger.cash_wallet(packet.sender_id),
        channel="lucky",
    )


def _check_daily_receive_limit(*, user, share_id: int, amount: Decimal) -> None:
    """Refuse a claimed share that would take the grabber past LUCKY_DAILY_RECEIVE_LIMIT today; raising inside the
    claim's transaction gives the share back to the others. The message tells what is left, not the share's amount."""
    received_today = LuckyShare.objects.filter(grabbed_by=user, grabbed_at__gte=_day_start(timezone.now())).exclude(
        pk=share_id
    ).aggregate(s=Sum("amount"))["s"] or Decimal("0.00")
    limit = settings.LUCKY_DAILY_RECEIVE_LIMIT
    if received_today + amount > limit:
        raise errors.LuckyReceiveLimitReached(
            errors.DAILY_RECEIVE_LIMIT % {"limit": limit, "left": max(limit - received_today, Decimal("0.00"))}
        )


def _none_left(packet_id: int) -> errors.ApplicationError:
    """Why no share could be taken: the packet expired (its rest went back), or others grabbed them all."""
    if LuckyShare.objects.filter(packet_id=packet_id, returned_at__isnull=False).exists():
        return errors.LuckyExpired(errors.EXPIRED)
    return errors.LuckyAllGrabbed(errors.ALL_GRABBED)


@transaction.atomic
def packet_settle(*, packet_id: int) -> bool:
    """Close an open packet whose shares are all grabbed: status, and the best luck (手气最佳: the largest share, the
    earliest grabber among equals). Safe to run any number of times, from any number of grabbers at once: the
    conditional UPDATE lets exactly one through. Returns whether this call closed it."""
    now = timezone.now()
    closed = (
        LuckyPacket.objects.filter(pk=packet_id, status=LuckyPacket.Status.OPEN)
        .exclude(shares__grabbed_by__isnull=True)
        .update(status=LuckyPacket.Status.GRABBED_OUT, finished_at=now)
    )
    if not closed:
        return False
    best = LuckyShare.objects.filter(packet_id=packet_id).order_by("-amount", "grabbed_at", "pk").first()
    LuckyShare.objects.filter(pk=best.pk).update(best_luck=True)
    return True


@transaction.atomic
def packet_expire(*, packet_id: int) -> Decimal:
    """Return the shares nobody grabbed to the sender, in one ledger transaction; safe to run twice (the second finds
    the packet closed). Waits for grabbers holding a share of it, so each share is grabbed or returned, never both.
    Returns the amount returned."""
    packet = packet_lock(packet_id)
    if packet is None or packet.status != LuckyPacket.Status.OPEN or packet.expires_at > timezone.now():
        return Decimal("0.00")
    free = free_shares_lock(packet_id)
    now = timezone.now()
    rest = sum((s.amount for s in free), Decimal("0.00"))
    if not free:
        # Everything was grabbed, but the last grabber's settle never ran (a crash after its commit): settle now.
        transaction.on_commit(lambda: packet_settle(packet_id=packet_id))
        return rest
    LuckyShare.objects.filter(pk__in=[s.pk for s in free]).update(returned_at=now)
    ledger.post_return(packet_id=packet_id, sender_id=packet.sender_id, amount=rest)
    LuckyPacket.objects.filter(pk=packet_id).update(
        status=LuckyPacket.Status.EXPIRED, finished_at=now, returned_amount=rest
    )
    return rest


def packets_expire_due(*, limit: int = 500) -> int:
    """Expire the open packets past their time, each in its own transaction. Returns how many returned money."""
    due = LuckyPacket.objects.filter(status=LuckyPacket.Status.OPEN, expires_at__lte=timezone.now())
    returned = 0
    for packet_id in due.order_by("expires_at").values_list("pk", flat=True)[:limit]:
        if packet_expire(packet_id=packet_id) > 0:
            returned += 1
    return returned
