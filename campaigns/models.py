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

    class Participants(models.TextChoices):
        MERCHANT_CONSUMER = "merchant_consumer", _("merchant → consumer")
        PLATFORM_USER = "platform_user", _("platform → user")
        PERSON_PERSON = "person_person", _("person → person")

    class UserScope(models.TextChoices):
        ALL = "all", _("all users")
        NEW_USERS = "new_users", _("new users only (no previous order)")
        SEGMENTS = "segments", _("listed segments only")

    participants = models.CharField(
        _("participants"), max_length=20, choices=Participants.choices, default=Participants.MERCHANT_CONSUMER
    )
    regions = ArrayField(
        models.CharField(max_length=40),
        blank=True,
        default=list,
        verbose_name=_("regions (empty = nationwide)"),
        help_text=_("Provinces (广东) or cities (广东/深圳), comma separated."),
    )
    user_scope = models.CharField(_("who can earn"), max_length=16, choices=UserScope.choices, default=UserScope.ALL)
    segments = ArrayField(models.CharField(max_length=40), blank=True, default=list, verbose_name=_("segments"))
    per_user_limit = models.PositiveIntegerField(_("packets per user (0 = no limit)"), default=0)
    packet_limit = models.PositiveIntegerField(_("packets in total (0 = no limit)"), default=0)
    daily_budget_cap = models.DecimalField(
        _("daily budget cap (0 = none)"), default=Decimal("0.00"), max_digits=14, decimal_places=2
    )
    allow_stacking = models.BooleanField(_("packets can be combined with other campaigns' packets"), default=False)
    hold_days = models.PositiveIntegerField(
        _("rebate holding period (days)"),
        default=0,
        help_text=_("Rebates stay pending (visible, not spendable) this long, e.g. the return window. 0 = at once."),
    )

    class RefundPolicy(models.TextChoices):
        VOID = "void", _("a refunded order's packet stays used")
        REISSUE = "reissue", _("a fully refunded order gets its packet back (a new code, same terms and expiry)")

    refund_packet_policy = models.CharField(
        _("packet on refund"), max_length=8, choices=RefundPolicy.choices, default=RefundPolicy.REISSUE
    )
    # Race-free counter: incremented in the same UPDATE that checks the limit.
    packets_issued = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="campaign_window"),
            models.CheckConstraint(condition=Q(daily_budget_cap__gte=0), name="campaign_daily_cap_non_negative"),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        errors = {}
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            errors["ends_at"] = _("The end must be after the start.")
        for scope in self.regions or []:
            province, _sep, city = scope.partition("/")
            if not province.strip() or (_sep and not city.strip()):
                errors["regions"] = _("Write a region as a province (广东) or province/city (广东/深圳).")
        if self.user_scope == self.UserScope.SEGMENTS and not self.segments:
            errors["segments"] = _("List at least one segment, or choose another user scope.")
        if errors:
            raise ValidationError(errors)

    def is_live(self, at=None) -> bool:
        at = at or timezone.now()
        return self.status == self.Status.ACTIVE and self.starts_at <= at < self.ends_at


class EarnRule(models.Model):
    """What earns a packet, and what the packet is (seed §1: spend ≥ 200 → packet; §3: newbie packets 5 / 10)."""

    class Trigger(models.TextChoices):
        PURCHASE = "purchase", _("purchase ≥ threshold")
        REGISTRATION = "registration", _("registration (newbie packet)")
        CHECK_IN = "check_in", _("daily check-in")
        SHARE = "share", _("a friend joins or buys through my shared link")
        REFERRAL = "referral", _("invited by a referrer")
        MANUAL = "manual", _("manual or batch grant")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="earn_rules")
    trigger = models.CharField(_("trigger"), max_length=16, choices=Trigger.choices, default=Trigger.PURCHASE)
    threshold_amount = models.DecimalField(_("order threshold"), default=Decimal("0.00"), **MONEY)
    packet_amount = models.DecimalField(_("packet amount"), **MONEY)
    tiers = models.CharField(
        _("tiered amounts by weighted draw"),
        max_length=200,
        blank=True,
        help_text=_("Optional: amount:weight pairs, e.g. 5.00:70, 10.00:30. Overrides the packet amount."),
    )
    valid_days = models.PositiveIntegerField(_("valid for days"), default=30)
    min_spend = models.DecimalField(_("minimum spend to use (0 = none)"), default=Decimal("0.00"), **MONEY)
    allowed_categories = ArrayField(
        models.CharField(max_length=50), blank=True, default=list, verbose_name=_("allowed categories (empty = all)")
    )
    denied_categories = ArrayField(
        models.CharField(max_length=50), blank=True, default=list, verbose_name=_("excluded categories")
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
        overlap = set(self.allowed_categories or []) & set(self.denied_categories or [])
        if overlap:
            errors["denied_categories"] = _("%(cats)s cannot be both allowed and excluded.") % {
                "cats": ", ".join(sorted(overlap))
            }
        try:
            self.parsed_tiers()
        except ValueError as exc:
            errors["tiers"] = str(exc)
        if self.trigger != self.Trigger.PURCHASE and self.threshold_amount:
            errors["threshold_amount"] = _("Only a purchase trigger has an order threshold; set it to 0.")
        if errors:
            raise ValidationError(errors)

    def parsed_tiers(self):
        """The tiers as engine data. Raises ValueError with a message a campaign manager can act on."""
        from .rules import Tier

        if not self.tiers.strip():
            return ()
        tiers = []
        for part in self.tiers.split(","):
            amount, sep, weight = part.strip().partition(":")
            try:
                value, share = Decimal(amount), int(weight)
            except (ArithmeticError, ValueError):
                value, share = None, None
            if not sep or value is None or value <= 0 or value != value.quantize(Decimal("0.01")) or share <= 0:
                raise ValueError(_("Write tiers as amount:weight pairs, e.g. 5.00:70, 10.00:30."))
            tiers.append(Tier(value, share))
        return tuple(tiers)


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

    class Mode(models.TextChoices):
        RATE = "rate", _("percent of the base")
        FIXED = "fixed", _("fixed amount")

    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, related_name="rebate_rule")
    issuer_mode = models.CharField(_("issuer leg"), max_length=8, choices=Mode.choices, default=Mode.RATE)
    issuer_rate = models.DecimalField(_("issuer rate %"), default=Decimal("0.00"), **RATE)
    issuer_fixed = models.DecimalField(_("issuer fixed amount"), default=Decimal("0.00"), **MONEY)
    issuer_cap = models.DecimalField(_("issuer cap"), null=True, blank=True, **MONEY)
    holder_mode = models.CharField(_("holder leg"), max_length=8, choices=Mode.choices, default=Mode.RATE)
    holder_rate = models.DecimalField(_("holder rate %"), default=Decimal("0.00"), **RATE)
    holder_fixed = models.DecimalField(_("holder fixed amount"), default=Decimal("0.00"), **MONEY)
    holder_cap = models.DecimalField(_("holder cap"), null=True, blank=True, **MONEY)
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
            models.CheckConstraint(condition=Q(issuer_fixed__gte=0, holder_fixed__gte=0), name="rebate_fixed_non_neg"),
            models.CheckConstraint(
                condition=(Q(issuer_cap__isnull=True) | Q(issuer_cap__gte=0))
                & (Q(holder_cap__isnull=True) | Q(holder_cap__gte=0)),
                name="rebate_caps_non_negative",
            ),
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
        for field in ("issuer_fixed", "holder_fixed", "issuer_cap", "holder_cap"):
            value = getattr(self, field)
            if value is not None and value < 0:
                errors[field] = _("Amounts cannot be negative.")
        campaign = getattr(self, "campaign", None)
        pays_issuer = (self.issuer_mode == self.Mode.RATE and self.issuer_rate and self.issuer_rate > 0) or (
            self.issuer_mode == self.Mode.FIXED and self.issuer_fixed and self.issuer_fixed > 0
        )
        if (
            campaign is not None
            and campaign.merchant_id is None
            and campaign.participants != Campaign.Participants.PERSON_PERSON
            and campaign.participants != Campaign.Participants.PLATFORM_USER
            and pays_issuer
        ):
            errors["issuer_rate"] = _("A platform campaign has no merchant issuer to pay: set the issuer rate to 0.")
        if errors:
            raise ValidationError(errors)


class CategoryRate(models.Model):
    """A per-category rate table (fruit 8 %, dairy 3 %): overrides a leg's flat rate on lines of that category."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="category_rates")
    category = models.CharField(_("category"), max_length=50)
    issuer_rate = models.DecimalField(_("issuer rate %"), null=True, blank=True, **RATE)
    holder_rate = models.DecimalField(_("holder rate %"), null=True, blank=True, **RATE)

    class Meta:
        verbose_name = _("category rate")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "category"], name="category_rate_unique"),
            models.CheckConstraint(
                condition=(Q(issuer_rate__isnull=True) | Q(issuer_rate__gte=0, issuer_rate__lte=100))
                & (Q(holder_rate__isnull=True) | Q(holder_rate__gte=0, holder_rate__lte=100)),
                name="category_rate_range",
            ),
        ]

    def __str__(self):
        return self.category

    def clean(self):
        for field in ("issuer_rate", "holder_rate"):
            value = getattr(self, field)
            if value is not None and not (0 <= value <= 100):
                raise ValidationError({field: _("A rate must be between 0 and 100 %.")})


class MultiplierWindow(models.Model):
    """雙倍返利: between two times, every rebate leg of the campaign is multiplied."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="multiplier_windows")
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    factor = models.DecimalField(_("multiplier"), max_digits=4, decimal_places=2, default=Decimal("2.00"))

    class Meta:
        verbose_name = _("multiplier window")
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="multiplier_window_order"),
            models.CheckConstraint(condition=Q(factor__gt=0), name="multiplier_positive"),
        ]

    def __str__(self):
        return f"×{self.factor}"

    def clean(self):
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": _("The end must be after the start.")})
        if self.factor is not None and self.factor <= 0:
            raise ValidationError({"factor": _("The multiplier must be positive.")})


class CampaignUserCounter(models.Model):
    """Packets a user holds from a campaign; the limit is checked in the same statement that counts."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE)
    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE)
    packets = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "user"], name="campaign_user_counter_unique")]


class CampaignDayCounter(models.Model):
    """Budget committed per campaign and day (Asia/Shanghai), for the daily cap and the burn-down chart."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE)
    day = models.DateField()
    spent = models.DecimalField(default=Decimal("0.00"), **MONEY)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "day"], name="campaign_day_counter_unique")]


class RuleChange(models.Model):
    """Who changed which rule, when, from what to what — rules move money."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="rule_changes")
    actor = models.ForeignKey("accounts.User", null=True, on_delete=models.SET_NULL)
    at = models.DateTimeField(auto_now_add=True)
    target = models.CharField(max_length=60)
    changes = models.JSONField()

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name = _("rule change")
