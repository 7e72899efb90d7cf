"""Writes to accounts: every change to users, merchants and devices made by pages, admin or tasks goes through here."""

import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from antifraud.devices import device_seen
from antifraud.limits import EarnContext
from common.errors import ApplicationError, Conflict
from common.events import publish

from .events import PacketsEarned
from .models import Device, Merchant, User

logger = logging.getLogger(__name__)

# An 11-digit mainland China mobile number: 1, then 3–9, then nine digits.
MAINLAND_MOBILE = re.compile(r"^1[3-9]\d{9}$")


class PhoneTaken(Conflict):
    code = "phone_taken"


class EmailTaken(Conflict):
    code = "email_taken"


class InviteRefused(ApplicationError):
    """Self-referral, or an invitee who already has an inviter (one invitee has one inviter)."""

    code = "invite_refused"


@transaction.atomic
def users_set_banned(*, user_ids: Iterable[int], banned: bool) -> int:
    """Ban (or unban) users. Returns how many rows changed. Antifraud penalties call this too."""
    return User.objects.filter(pk__in=list(user_ids)).exclude(is_banned=banned).update(is_banned=banned)


@transaction.atomic
def devices_set_banned(*, device_ids: Iterable[int], banned: bool) -> int:
    return Device.objects.filter(pk__in=list(device_ids)).exclude(is_banned=banned).update(is_banned=banned)


@transaction.atomic
def merchants_set_verified(*, merchant_ids: Iterable[int], verified: bool) -> int:
    return Merchant.objects.filter(pk__in=list(merchant_ids)).exclude(is_verified=verified).update(is_verified=verified)


# --- sign-up --------------------------------------------------------------------------------------------------------


def phone_is_taken(phone: str) -> bool:
    """Taken as a phone, or as somebody's username (the login box tries usernames first: it would sign them in)."""
    return User.objects.filter(Q(phone=phone) | Q(username=phone)).exists()


def email_is_taken(email: str) -> bool:
    """Case-insensitive: the login box matches emails that way, and two accounts on one email sign nobody in."""
    return User.objects.filter(Q(email__iexact=email) | Q(username__iexact=email)).exists()


def _lock_identifier(value: str) -> None:
    """Serialise concurrent sign-ups with the same phone or email until this transaction ends (the phone also has
    a unique constraint; the email has none, so this lock is what keeps two concurrent sign-ups apart)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"signup:{value.lower()}"])


def user_attribute_inviter(*, user: User, inviter: User) -> None:
    """Record who invited `user`. One invitee has one inviter, set once; nobody invites themselves.
    The conditional UPDATE makes the "once" hold under concurrency; the model's check constraint backs it."""
    if inviter.pk == user.pk:
        raise InviteRefused(_("Nobody can invite themselves."), code="self_referral")
    updated = User.objects.filter(pk=user.pk, invited_by__isnull=True).update(invited_by=inviter)
    if not updated:
        raise InviteRefused(_("This account already has an inviter."), code="already_invited")
    user.invited_by = inviter


@dataclass
class Registration:
    user: User
    inviter: User | None = None
    packets: list = field(default_factory=list)  # what the new user received (newbie, referral)
    sharer_packets: list = field(default_factory=list)  # what the inviter received for the share


def user_register(
    *,
    password: str,
    phone: str | None = None,
    email: str = "",
    inviter: User | None = None,
    channel: str = "",
    ip: str | None = None,
    device_fingerprint: str | None = None,
) -> Registration:
    """Create a shopper account from a phone number or an email, attribute the inviter, and issue what the sign-up
    earns: the newbie packet, the referral packet (the inviter is its issuer and earns its issuer leg), and the
    share packet for the inviter whose link brought them. `phone` is already normalized (MAINLAND_MOBILE).

    The account commits first; each issuance then runs in its own transaction, so a campaign that cannot issue
    (budget, limits) never costs anybody their account."""
    if not phone and not email:
        raise ApplicationError(_("A phone number or an email is needed."), code="identifier_required")
    with transaction.atomic():
        _lock_identifier(phone or email)
        if phone and phone_is_taken(phone):
            raise PhoneTaken(_("This phone number is already registered."))
        if email and email_is_taken(email):
            raise EmailTaken(_("This email address is already registered."))
        user = User(username=phone or f"u{secrets.token_hex(7)}", phone=phone or None, email=email)
        user.set_password(password)
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError as exc:  # a concurrent sign-up that did not take the same advisory lock key
            raise PhoneTaken(_("This phone number is already registered.")) from exc
        if inviter is not None:
            user_attribute_inviter(user=user, inviter=inviter)
    registration = Registration(user=user, inviter=inviter)
    # The sign-up's IP and device count against every packet it earns, the inviter's share packet included: a
    # referral farm signing up many accounts from one phone hits the per-device limits.
    now = timezone.now()  # one moment for all of them (the minimum interval between packets counts moments)
    device = device_seen(fingerprint=device_fingerprint, user=user, now=now) if device_fingerprint else None
    context = EarnContext(ip=ip, device=device)
    registration.packets += _issue("registration", shopper=user, context=context, now=now)
    if inviter is not None:
        registration.packets += _issue("referral", shopper=user, issuer_user=inviter, context=context, now=now)
        registration.sharer_packets += _issue("share", shopper=inviter, context=context, now=now)
        logger.info("sign-up %s invited by %s through channel %r", user.pk, inviter.pk, channel or "code")
    return registration


def _issue(trigger: str, **kwargs) -> list:
    try:
        return [packet for issued in publish(PacketsEarned(trigger=trigger, **kwargs)) for packet in issued]
    except Exception:  # a failed issuance must not fail the sign-up; operations find and re-issue it from the log
        logger.exception("issuing %s packets failed for %s", trigger, kwargs.get("shopper"))
        return []


# --- profile --------------------------------------------------------------------------------------------------------


def _region_name(value: str, suffixes: tuple[str, ...]) -> str:
    """The name without its administrative suffix ("深圳市" → "深圳"), as campaigns write regions (广东/深圳)."""
    value = "".join(value.split())
    for suffix in suffixes:
        if value.endswith(suffix) and len(value) > len(suffix) + 1:
            return value[: -len(suffix)]
    return value


def user_update_region(*, user: User, province: str, city: str) -> User:
    """Where the shopper lives: region-scoped campaigns and the demo store's orders read it."""
    user.province = _region_name(province, ("维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市"))
    user.city = _region_name(city, ("市", "地区", "自治州", "盟"))
    user.save(update_fields=["province", "city"])
    return user
