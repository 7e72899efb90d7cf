"""Payouts: a shopper's cash leaving the platform (WeChat Pay 商家转账 to 零钱).

Imported at the end of `rebates/models.py`, so Django registers these models in the `rebates` app.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

MONEY = {"max_digits": 14, "decimal_places": 2}


def out_bill_no_for(payout_id: int) -> str:
    """WeChat's 商户单号 of a payout: fixed by its id, so every retry names the same bill (WeChat dedupes on it)."""
    return f"RP{payout_id:020d}"


class Payout(models.Model):
    class Channel(models.TextChoices):
        WALLET = "wallet", _("platform wallet")
        WECHAT_BALANCE = "wechat_balance", _("WeChat balance (零钱)")

    class Status(models.TextChoices):
        REQUESTED = "requested", _("requested")  # money reserved in clearing; not sent yet
        IN_FLIGHT = "in_flight", _("in flight")  # sent, or WeChat is processing it; outcome not known yet
        RETRYING = "retrying", _("retrying")  # the last attempt's outcome was unknown; a retry (query first) is due
        SUCCEEDED = "succeeded", _("succeeded")  # paid: clearing settled to the outside world
        FAILED = "failed", _("failed")  # WeChat refused or gave up: the money went back to the wallet

    TERMINAL = (Status.SUCCEEDED, Status.FAILED)

    beneficiary = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payouts", verbose_name=_("beneficiary")
    )
    amount = models.DecimalField(_("amount (CNY)"), **MONEY)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.REQUESTED)
    # Set at insert from the id (see out_bill_no_for) and never changed.
    out_bill_no = models.CharField(_("out bill no"), max_length=32, unique=True, editable=False)
    openid = models.CharField(_("recipient openid"), max_length=128, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    transfer_bill_no = models.CharField(_("WeChat transfer bill no"), max_length=64, blank=True)
    wechat_state = models.CharField(_("WeChat state"), max_length=32, blank=True)
    fail_reason = models.CharField(_("fail reason"), max_length=64, blank=True)
    # WAIT_USER_CONFIRM: what the user's WeChat needs to confirm receipt (wx.requestMerchantTransfer's `package`).
    package_info = models.TextField(_("WeChat package info"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("payout")
        verbose_name_plural = _("payouts")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payout_amount_positive"),
            models.CheckConstraint(
                condition=Q(status__in=["succeeded", "failed"], completed_at__isnull=False)
                | (~Q(status__in=["succeeded", "failed"]) & Q(completed_at__isnull=True)),
                name="payout_completed_iff_terminal",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["requested", "in_flight", "retrying"]),
                name="payout_open",
            ),
            models.Index(fields=["beneficiary", "-created_at"], name="payout_beneficiary_recent"),
        ]

    def __str__(self):
        return f"{self.out_bill_no} {self.amount} {self.status}"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL

    @property
    def awaiting_user_confirmation(self) -> bool:
        """WeChat holds the bill until the user confirms receipt in WeChat (with `package_info`)."""
        return not self.is_terminal and self.wechat_state == "WAIT_USER_CONFIRM" and bool(self.package_info)


class WechatOpenId(models.Model):
    """Which WeChat user (openid, per appid) receives a user's payouts. Filled when the user links WeChat."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="wechat_openids", verbose_name=_("user")
    )
    appid = models.CharField(max_length=32, verbose_name=_("AppID"))
    openid = models.CharField(max_length=128, verbose_name=_("OpenID"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("WeChat openid")
        verbose_name_plural = _("WeChat openids")
        constraints = [
            models.UniqueConstraint(fields=["user", "appid"], name="wechat_openid_one_per_user_app"),
            models.UniqueConstraint(fields=["appid", "openid"], name="wechat_openid_unique"),
        ]

    def __str__(self):
        return f"{self.user} → {self.openid}"
