from decimal import Decimal

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MONEY = {"max_digits": 14, "decimal_places": 2}
RATE = {"max_digits": 5, "decimal_places": 2}


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        ACTIVE = "active", _("active")
        PAUSED = "paused", _("paused")
        ENDED = "ended", _("ended")

    merchant = models.ForeignKey(
        "accounts.Merchant",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
        help_text=_("Empty for a platform campaign."),
    )
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("rules shown to shoppers"), blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    status_reason = models.CharField(_("status reason"), max_length=200, blank=True)
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        constraints = [models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="campaign_window")]

    def __str__(self):
        return self.name

    def clean(self):
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": _("The end must be after the start.")})

    def is_live(self, at=None) -> bool:
        at = at or timezone.now()
        return self.status == self.Status.ACTIVE and self.starts_at <= at < self.ends_at


class EarnRule(models.Model):
    """Order gross amount ≥ threshold → one packet of a fixed amount (seed §1: spend ≥ 200 → packet)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="earn_rules")
    threshold_amount = models.DecimalField(_("order threshold"), **MONEY)
    packet_amount = models.DecimalField(_("packet amount"), **MONEY)
    valid_days = models.PositiveIntegerField(_("valid for days"), default=30)
    min_spend = models.DecimalField(_("minimum spend to use (0 = none)"), default=Decimal("0.00"), **MONEY)
    allowed_categories = ArrayField(
        models.CharField(max_length=50), blank=True, default=list, verbose_name=_("allowed categories (empty = all)")
    )

    class Meta:
        verbose_name = _("earn rule")
        constraints = [
            models.CheckConstraint(condition=Q(threshold_amount__gte=0), name="earn_threshold_non_negative"),
            models.CheckConstraint(condition=Q(packet_amount__gt=0), name="earn_packet_positive"),
            models.CheckConstraint(condition=Q(min_spend__gte=0), name="earn_min_spend_non_negative"),
            models.CheckConstraint(condition=Q(valid_days__gt=0), name="earn_valid_days_positive"),
        ]

    def __str__(self):
        return f"≥{self.threshold_amount} → {self.packet_amount}"

    def clean(self):
        errors = {}
        if self.packet_amount is not None and self.packet_amount <= 0:
            errors["packet_amount"] = _("The packet amount must be positive.")
        if self.threshold_amount is not None and self.threshold_amount < 0:
            errors["threshold_amount"] = _("The threshold cannot be negative.")
        if self.min_spend is not None and self.min_spend < 0:
            errors["min_spend"] = _("The minimum spend cannot be negative.")
        if self.valid_days is not None and self.valid_days <= 0:
            errors["valid_days"] = _("A packet must be valid for at least one day.")
        if errors:
            raise ValidationError(errors)


class RebateRule(models.Model):
    """Both sides' rates when a packet of this campaign is spent (seed §1: merchant 10 %, shopper 5 %)."""

    class Base(models.TextChoices):
        GROSS = "gross", _("order gross amount")
        PAID = "paid", _("amount paid")

    class Form(models.TextChoices):
        CASH = "cash", _("cash wallet")
        POINTS = "points", _("platform points")

    class Funding(models.TextChoices):
        CAMPAIGN_BUDGET = "campaign_budget", _("campaign budget")
        PLATFORM_POOL = "platform_pool", _("platform marketing pool")

    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, related_name="rebate_rule")
    issuer_rate = models.DecimalField(_("issuer rate %"), default=Decimal("0.00"), **RATE)
    holder_rate = models.DecimalField(_("holder rate %"), default=Decimal("0.00"), **RATE)
    base = models.CharField(_("base"), max_length=8, choices=Base.choices, default=Base.GROSS)
    holder_form = models.CharField(_("holder reward form"), max_length=8, choices=Form.choices, default=Form.CASH)
    points_per_cny = models.PositiveIntegerField(_("points per CNY"), default=100)
    issuer_funding = models.CharField(max_length=16, choices=Funding.choices, default=Funding.CAMPAIGN_BUDGET)
    holder_funding = models.CharField(max_length=16, choices=Funding.choices, default=Funding.CAMPAIGN_BUDGET)

    class Meta:
        verbose_name = _("rebate rule")
        constraints = [
            models.CheckConstraint(condition=Q(issuer_rate__gte=0, issuer_rate__lte=100), name="rebate_issuer_rate"),
            models.CheckConstraint(condition=Q(holder_rate__gte=0, holder_rate__lte=100), name="rebate_holder_rate"),
            models.CheckConstraint(condition=Q(points_per_cny__gt=0), name="rebate_points_factor_positive"),
        ]

    def __str__(self):
        return f"issuer {self.issuer_rate}% / holder {self.holder_rate}%"

    def clean(self):
        errors = {}
        for field in ("issuer_rate", "holder_rate"):
            value = getattr(self, field)
            if value is not None and not (0 <= value <= 100):
                errors[field] = _("A rate must be between 0 and 100 %.")
        if self.points_per_cny is not None and self.points_per_cny <= 0:
            errors["points_per_cny"] = _("Points per CNY must be positive.")
        campaign = getattr(self, "campaign", None)
        if campaign is not None and campaign.merchant_id is None and self.issuer_rate and self.issuer_rate > 0:
            errors["issuer_rate"] = _("A platform campaign has no merchant issuer to pay: set the issuer rate to 0.")
        if errors:
            raise ValidationError(errors)
