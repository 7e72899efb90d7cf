"""Lucky money (issue 14): person-to-person packets, split at creation into share rows that grabbers claim.

The packet's money sits in ONE pass-through escrow account of the ledger (lucky/ledger.py); which part of it belongs
to which packet is told by the share rows and the ledger references `lucky_packet:<id>`."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MONEY = {"max_digits": 14, "decimal_places": 2}


def new_invite_token() -> str:
    return secrets.token_urlsafe(18)


class LuckyGroup(models.Model):
    """A family, friends, a class: the people a group packet may be grabbed by."""

    name = models.CharField(_("name"), max_length=60)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="lucky_groups_owned", verbose_name=_("owner")
    )
    # The invitation link's secret: whoever holds the link may join.
    invite_token = models.CharField(_("invitation token"), max_length=32, unique=True, default=new_invite_token)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("lucky money group")
        verbose_name_plural = _("lucky money groups")

    def __str__(self) -> str:
        return self.name


class LuckyMembership(models.Model):
    group = models.ForeignKey(LuckyGroup, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("group"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="lucky_memberships", verbose_name=_("member")
    )
    joined_at = models.DateTimeField(_("joined at"), auto_now_add=True)

    class Meta:
        verbose_name = _("group membership")
        verbose_name_plural = _("group memberships")
        constraints = [models.UniqueConstraint(fields=["group", "user"], name="lucky_member_once_per_group")]


class LuckyPacket(models.Model):
    class Kind(models.TextChoices):
        RANDOM = "random", _("lucky draw (random shares)")
        EQUAL = "equal", _("equal shares")

    class Status(models.TextChoices):
        OPEN = "open", _("open")
        GRABBED_OUT = "grabbed_out", _("all grabbed")
        EXPIRED = "expired", _("expired")

    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="lucky_packets_sent", verbose_name=_("sender")
    )
    group = models.ForeignKey(
        LuckyGroup, null=True, blank=True, on_delete=models.PROTECT, related_name="packets", verbose_name=_("group")
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="lucky_packets_addressed",
        verbose_name=_("recipient"),
    )
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    total = models.DecimalField(_("total"), **MONEY)
    share_count = models.PositiveSmallIntegerField(_("number of shares"))
    message = models.CharField(_("message"), max_length=60, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    returned_amount = models.DecimalField(_("returned to the sender"), default=0, **MONEY)
    # Empty: the shares are cash (the default). Set: each grabbed share becomes a spendable red packet of this platform
    # lucky-money campaign (person → person), usable at the campaign's merchants; spending it pays the sender the
    # campaign's issuer rebate and the grabber its holder rebate (docs/LUCKY_MONEY.md, "Spendable packets").
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("lucky-money campaign"),
    )

    class Meta:
        verbose_name = _("lucky packet")
        verbose_name_plural = _("lucky packets")
        constraints = [
            models.CheckConstraint(
                condition=Q(group__isnull=False, recipient__isnull=True)
                | Q(group__isnull=True, recipient__isnull=False, share_count=1),
                name="lucky_packet_to_a_group_or_one_person",
            ),
            models.CheckConstraint(condition=Q(total__gt=0), name="lucky_packet_total_positive"),
            models.CheckConstraint(condition=Q(share_count__gte=1), name="lucky_packet_at_least_one_share"),
        ]
        indexes = [
            models.Index(fields=["expires_at"], condition=Q(status="open"), name="lucky_packet_open_by_expiry"),
            models.Index(fields=["sender", "created_at"], name="lucky_packet_sender_day"),
        ]

    def __str__(self) -> str:
        return f"{self.pk}: {self.total} / {self.share_count}"

    @property
    def reference(self) -> str:
        """The ledger reference of every transaction of this packet (send, grabs, return)."""
        return f"lucky_packet:{self.pk}"


class LuckyShare(models.Model):
    """One pre-split share. `position` is its place in the shuffled order grabbers take shares in."""

    packet = models.ForeignKey(LuckyPacket, on_delete=models.PROTECT, related_name="shares", verbose_name=_("packet"))
    position = models.PositiveSmallIntegerField(_("position"))
    amount = models.DecimalField(_("amount"), **MONEY)
    grabbed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="lucky_shares",
        verbose_name=_("grabbed by"),
    )
    grabbed_at = models.DateTimeField(_("grabbed at"), null=True, blank=True)
    returned_at = models.DateTimeField(_("returned at"), null=True, blank=True)
    best_luck = models.BooleanField(_("best luck"), default=False)
    # The spendable red packet this share became when grabbed (a campaign packet's shares only).
    spendable = models.OneToOneField(
        "packets.Packet",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="lucky_share",
        verbose_name=_("spendable packet"),
    )

    class Meta:
        verbose_name = _("lucky packet share")
        verbose_name_plural = _("lucky packet shares")
        constraints = [
            models.UniqueConstraint(fields=["packet", "position"], name="lucky_share_position_unique"),
            # At most one share per person and packet: the database says no to a second, whatever the race.
            models.UniqueConstraint(fields=["packet", "grabbed_by"], name="lucky_share_once_per_grabber"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="lucky_share_amount_positive"),
            models.CheckConstraint(
                condition=Q(grabbed_by__isnull=True) | Q(returned_at__isnull=True),
                name="lucky_share_grabbed_or_returned",
            ),
            models.CheckConstraint(
                condition=Q(grabbed_by__isnull=True, grabbed_at__isnull=True)
                | Q(grabbed_by__isnull=False, grabbed_at__isnull=False),
                name="lucky_share_grabbed_with_time",
            ),
            models.CheckConstraint(
                condition=Q(best_luck=False) | Q(grabbed_by__isnull=False), name="lucky_share_best_luck_is_grabbed"
            ),
        ]
        indexes = [
            # The claim query reads only the free shares of one packet.
            models.Index(
                fields=["packet", "position"],
                condition=Q(grabbed_by__isnull=True, returned_at__isnull=True),
                name="lucky_share_free",
            )
        ]
