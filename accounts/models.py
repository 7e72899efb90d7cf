import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


def new_invite_code() -> str:
    return secrets.token_urlsafe(6)


class User(AbstractUser):
    """Shoppers, merchant staff and platform operators alike. Shoppers sign in with phone or email."""

    phone = models.CharField(_("phone"), max_length=20, unique=True, null=True, blank=True)
    province = models.CharField(_("province"), max_length=32, blank=True)
    city = models.CharField(_("city"), max_length=32, blank=True)
    invite_code = models.CharField(
        max_length=16, unique=True, default=new_invite_code, editable=False, verbose_name=_("invite code")
    )
    is_banned = models.BooleanField(_("banned"), default=False)
    invited_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="invitees", verbose_name=_("invited by")
    )
    segments = ArrayField(
        models.CharField(max_length=40),
        blank=True,
        default=list,
        verbose_name=_("segments"),
        help_text=_("Marketing segments, e.g. mother-and-baby buyers, for segment-scoped campaigns."),
    )

    class Meta(AbstractUser.Meta):
        constraints = [
            models.CheckConstraint(condition=~models.Q(invited_by=models.F("pk")), name="user_not_self_invited")
        ]

    def __str__(self):
        return self.phone or self.email or self.username


class Merchant(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    is_verified = models.BooleanField(_("verified"), default=False)
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    staff = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="MerchantStaff", related_name="merchants", verbose_name=_("staff")
    )

    class Meta:
        verbose_name = _("merchant")
        verbose_name_plural = _("merchants")

    def __str__(self):
        return self.name


class MerchantStaff(models.Model):
    class Role(models.TextChoices):
        ADMIN = "merchant_admin", _("merchant admin")
        CAMPAIGN_MANAGER = "campaign_manager", _("campaign manager")

    merchant = models.ForeignKey(
        Merchant, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("merchant")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("user")
    )
    role = models.CharField(max_length=32, choices=Role.choices, verbose_name=_("role"))

    class Meta:
        verbose_name = _("merchant staff")
        verbose_name_plural = _("merchant staff")
        constraints = [models.UniqueConstraint(fields=["merchant", "user"], name="merchant_staff_unique")]

    def __str__(self):
        return f"{self.user} @ {self.merchant} ({self.get_role_display()})"


class Device(models.Model):
    fingerprint = models.CharField(_("fingerprint"), max_length=128, unique=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="devices",
        verbose_name=pgettext_lazy("device", "owner"),
    )
    first_seen = models.DateTimeField(auto_now_add=True, verbose_name=_("first seen"))
    last_seen = models.DateTimeField(auto_now=True, verbose_name=_("last seen"))
    is_banned = models.BooleanField(_("banned"), default=False)
    # Simple browser signals reported by the pages (screen, time zone, language): shown to reviewers, never a key.
    signals = models.JSONField(_("browser signals"), default=dict, blank=True)
    accounts = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="DeviceUse", related_name="used_devices", verbose_name=_("accounts")
    )

    class Meta:
        verbose_name = _("device")
        verbose_name_plural = _("devices")

    def __str__(self):
        return self.fingerprint


class DeviceUse(models.Model):
    """Which accounts used a device, and when first and last: the graph the fraud detectors walk."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="uses")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="device_uses")
    first_seen = models.DateTimeField(_("first seen"))
    last_seen = models.DateTimeField(_("last seen"))

    class Meta:
        verbose_name = _("device use")
        verbose_name_plural = _("device uses")
        constraints = [models.UniqueConstraint(fields=["device", "user"], name="device_use_unique")]
