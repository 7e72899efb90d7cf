"""Rollups: what the raw rows say, summed per campaign (or merchant) and Asia/Shanghai day, so a report over months
reads a few thousand rows instead of millions (docs/REPORTS.md, "Rollups").

Every rollup row is a sum of facts (reports/facts.py); a fact belongs to one source event (a packet issued, a claim,
a redemption, a rebate leg, a reversal…) whose key is recorded in `RollupSource` in the same statement that adds it,
so applying an event twice adds it once."""

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign
from packets.models import Order, PacketNotIssued

SUM = {"max_digits": 18, "decimal_places": 2}


class CampaignDayFigure(models.Model):
    """One metric of one campaign on one day, in total (`dimension` "total") or for one value of a breakdown
    (amount tier, earn trigger, issuance channel, province)."""

    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    dimension = models.CharField(max_length=16)
    value = models.CharField(max_length=40, blank=True)
    metric = models.CharField(max_length=24)
    amount = models.DecimalField(default=Decimal("0.00"), **SUM)

    class Meta:
        verbose_name_plural = _("campaign day figures")
        db_table = "reports_campaign_day"
        verbose_name = _("campaign day figure")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "day", "dimension", "value", "metric"], name="reports_campaign_day_unique"
            )
        ]


class CampaignShopperDay(models.Model):
    """A shopper took part in a campaign on a day (earned, claimed or spent one of its packets); `signed_up` when
    that was the sign-up the campaign brought. Participants over a range are the distinct shoppers here."""

    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="+")
    signed_up = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("campaign shopper day")
        verbose_name_plural = _("campaign shopper days")
        db_table = "reports_campaign_shopper_day"
        constraints = [
            models.UniqueConstraint(fields=["campaign", "day", "user"], name="reports_campaign_shopper_day_unique")
        ]


class MerchantDayFigure(models.Model):
    """A merchant's orders and gross sales on a day, in total or per product category (its lines' sums)."""

    merchant = models.ForeignKey("accounts.Merchant", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    dimension = models.CharField(max_length=16)
    value = models.CharField(max_length=50, blank=True)
    metric = models.CharField(max_length=24)
    amount = models.DecimalField(default=Decimal("0.00"), **SUM)

    class Meta:
        verbose_name = _("merchant day figure")
        verbose_name_plural = _("merchant day figures")
        db_table = "reports_merchant_day"
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "day", "dimension", "value", "metric"], name="reports_merchant_day_unique"
            )
        ]


class MerchantShopperDay(models.Model):
    """A shopper's orders at a merchant on a day: the active shoppers behind the activity lift."""

    merchant = models.ForeignKey("accounts.Merchant", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="+")
    orders = models.PositiveIntegerField(default=0)
    gross = models.DecimalField(default=Decimal("0.00"), **SUM)

    class Meta:
        verbose_name = _("merchant shopper day")
        verbose_name_plural = _("merchant shopper days")
        db_table = "reports_merchant_shopper_day"
        constraints = [
            models.UniqueConstraint(fields=["merchant", "day", "user"], name="reports_merchant_shopper_day_unique")
        ]


class RollupSource(models.Model):
    """A source event already added to the rollups (e.g. `u:42`, redemption 42): the unique key that makes
    applying it again add nothing."""

    key = models.CharField(max_length=40, primary_key=True)

    class Meta:
        verbose_name = _("rollup source")
        verbose_name_plural = _("rollup sources")
        db_table = "reports_rollup_source"


class RollupWatermark(models.Model):
    """How far the applier has read one source (by its rows' ids); it re-reads a window below it each time, so a
    row that committed late is still picked up (docs/REPORTS.md)."""

    source = models.CharField(max_length=40, primary_key=True)
    last_id = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("rollup watermark")
        verbose_name_plural = _("rollup watermarks")
        db_table = "reports_rollup_watermark"


class CampaignReport(Campaign):
    """The admin's "campaign reports" list and report page (reports/admin.py): a view of campaigns, no table."""

    class Meta:
        proxy = True
        verbose_name = _("campaign report")
        verbose_name_plural = _("campaign reports")


class OrderTrace(Order):
    """The admin's customer-service trace (reports/admin.py): a search over orders, no table."""

    class Meta:
        proxy = True
        verbose_name = _("customer-service trace")
        verbose_name_plural = _("customer-service trace")


class LiveMonitor(Campaign):
    """The admin's live monitor (reports/admin.py): figures across every campaign, no table."""

    class Meta:
        proxy = True
        verbose_name = _("live monitor")
        verbose_name_plural = _("live monitor")


class Alert(models.Model):
    """A campaign's usage in one 10-minute window beyond its recent baseline × the configured factor
    (reports/alerts.py), with who was behind it; operators are notified once, acknowledge it, and may pause the
    campaign from it."""

    class Status(models.TextChoices):
        OPEN = "open", _("open")
        ACKNOWLEDGED = "acknowledged", _("acknowledged")

    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.CASCADE, related_name="+", verbose_name=_("campaign")
    )
    window_start = models.DateTimeField(_("window start"))
    window_end = models.DateTimeField(_("window end"))
    used = models.PositiveIntegerField(_("packets used in the window"))
    baseline = models.DecimalField(_("baseline per window"), max_digits=12, decimal_places=2)
    factor = models.DecimalField(_("spike factor"), max_digits=6, decimal_places=2)
    top_ips = models.JSONField(_("top IPs"), default=list)  # [{"value", "count"}], most first
    top_devices = models.JSONField(_("top devices"), default=list)
    top_accounts = models.JSONField(_("top accounts"), default=list)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.OPEN)
    acknowledged_by = models.ForeignKey(
        "accounts.User",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("acknowledged by"),
    )
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    notified_at = models.DateTimeField(_("notified at"), null=True, blank=True)
    created_at = models.DateTimeField(_("opened at"), auto_now_add=True)

    class Meta:
        db_table = "reports_alert"
        verbose_name = _("usage alert")
        verbose_name_plural = _("usage alerts")
        ordering = ["-window_start", "pk"]
        constraints = [
            # The beat task may look at the same window twice: one alert per campaign and window.
            models.UniqueConstraint(fields=["campaign", "window_start"], name="reports_alert_once_per_window")
        ]

    def __str__(self):
        return f"{self.campaign_id} @ {self.window_start:%Y-%m-%d %H:%M}"


class FailedIssuance(PacketNotIssued):
    """The admin's failed issuance list with its re-issue action (reports/admin.py): packets orders earned but did
    not get, and why."""

    class Meta:
        proxy = True
        verbose_name = _("failed issuance")
        verbose_name_plural = _("failed issuance")
