from decimal import Decimal

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from common.money import parse_amount

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
        verbose_name=_("merchant"),
    )
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("rules shown to shoppers"), blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    status_reason = models.CharField(_("status reason"), max_length=200, blank=True)
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

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
    packets_issued = models.PositiveIntegerField(default=0, editable=False, verbose_name=_("packets issued"))

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

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="earn_rules", verbose_name=_("campaign")
    )
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
        verbose_name_plural = _("earn rules")
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
                value, share = parse_amount(amount.strip()), int(weight)
            except ValueError:  # MoneyError included
                value, share = None, None
            if not sep or value is None or value <= 0 or share <= 0:
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
        COUPON = "coupon", _("a coupon for the next purchase")

    class Funding(models.TextChoices):
        CAMPAIGN_BUDGET = "campaign_budget", _("campaign budget")
        PLATFORM_POOL = "platform_pool", _("platform marketing pool")

    class Mode(models.TextChoices):
        RATE = "rate", _("percent of the base")
        FIXED = "fixed", _("fixed amount")

    campaign = models.OneToOneField(
        Campaign, on_delete=models.CASCADE, related_name="rebate_rule", verbose_name=_("campaign")
    )
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
    coupon_min_spend = models.DecimalField(_("coupon: minimum spend"), default=Decimal("0.00"), **MONEY)
    coupon_valid_days = models.PositiveIntegerField(_("coupon: valid for days"), default=30)
    issuer_funding = models.CharField(
        max_length=16, choices=Funding.choices, default=Funding.CAMPAIGN_BUDGET, verbose_name=_("issuer funding")
    )
    holder_funding = models.CharField(
        max_length=16, choices=Funding.choices, default=Funding.CAMPAIGN_BUDGET, verbose_name=_("holder funding")
    )

    class Meta:
        verbose_name_plural = _("rebate rules")
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
        return _("issuer %(issuer)s%% / holder %(holder)s%%") % {"issuer": self.issuer_rate, "holder": self.holder_rate}

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

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="category_rates", verbose_name=_("campaign")
    )
    category = models.CharField(_("category"), max_length=50)
    issuer_rate = models.DecimalField(_("issuer rate %"), null=True, blank=True, **RATE)
    holder_rate = models.DecimalField(_("holder rate %"), null=True, blank=True, **RATE)

    class Meta:
        verbose_name_plural = _("category rates")
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

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="multiplier_windows", verbose_name=_("campaign")
    )
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    factor = models.DecimalField(_("multiplier"), max_digits=4, decimal_places=2, default=Decimal("2.00"))

    class Meta:
        verbose_name_plural = _("multiplier windows")
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
        verbose_name = _("campaign user counter")
        verbose_name_plural = _("campaign user counters")
        constraints = [models.UniqueConstraint(fields=["campaign", "user"], name="campaign_user_counter_unique")]


class CampaignDayCounter(models.Model):
    """Budget committed per campaign and day (Asia/Shanghai), for the daily cap and the burn-down chart."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE)
    day = models.DateField()
    spent = models.DecimalField(default=Decimal("0.00"), **MONEY)

    class Meta:
        verbose_name = _("campaign day counter")
        verbose_name_plural = _("campaign day counters")
        constraints = [models.UniqueConstraint(fields=["campaign", "day"], name="campaign_day_counter_unique")]


class RuleChange(models.Model):
    """Who changed which rule, when, from what to what — rules move money."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="rule_changes")
    actor = models.ForeignKey("accounts.User", null=True, on_delete=models.SET_NULL)
    at = models.DateTimeField(auto_now_add=True)
    target = models.CharField(max_length=60)
    changes = models.JSONField()

    class Meta:
        verbose_name_plural = _("rule changes")
        ordering = ["-at", "-pk"]
        verbose_name = _("rule change")


# ---------------------------------------------------------------------------------------------------------------------
# Programs (campaigns/programs/): referral rebates (雙倍返利), milestone "reverse" rebates (紅包反向系統) and
# new-product trial feedback rewards (新品試用). Every money move of theirs goes through rebates.ledger.ledger_post.
# ---------------------------------------------------------------------------------------------------------------------


class ReferralProgram(models.Model):
    """雙倍返利: an inviter earns a % of what each invitee spends in the first days after signing up, multiplied by
    the campaign's multiplier window covering the order (seed: invitee spends 10.00 → 1.00, in a ×2 window 2.00)."""

    campaign = models.OneToOneField(
        Campaign, on_delete=models.CASCADE, related_name="referral_program", verbose_name=_("campaign")
    )
    inviter_rate = models.DecimalField(_("inviter rate %"), **RATE)
    window_days = models.PositiveIntegerField(
        _("window (days after the invitee's sign-up)"),
        default=30,
        help_text=_("Orders the invitee places within this many days of signing up earn the inviter a rebate."),
    )

    class Meta:
        verbose_name_plural = _("referral programs")
        verbose_name = _("referral program")
        constraints = [
            models.CheckConstraint(
                condition=Q(inviter_rate__gt=0, inviter_rate__lte=100), name="referral_program_rate_range"
            ),
            models.CheckConstraint(condition=Q(window_days__gt=0), name="referral_program_window_positive"),
        ]

    def __str__(self):
        return f"{self.inviter_rate}% for {self.window_days} days"

    def clean(self):
        errors = {}
        if self.inviter_rate is not None and not (0 < self.inviter_rate <= 100):
            errors["inviter_rate"] = _("A rate must be above 0 and at most 100 %.")
        if self.window_days is not None and self.window_days <= 0:
            errors["window_days"] = _("The window must be at least one day.")
        if errors:
            raise ValidationError(errors)


class ReferralReward(models.Model):
    """What one invitee's order earned the inviter. One per order (the order has one shopper, who has one inviter)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("held (reserved from the budget until the holding period ends)")
        CREDITED = "credited", _("credited")
        UNFUNDED = "unfunded", _("not paid: the campaign budget could not cover it")
        REVERSED = "reversed", _("reversed: the order was refunded")

    program = models.ForeignKey(
        ReferralProgram, on_delete=models.PROTECT, related_name="rewards", verbose_name=_("program")
    )
    order = models.OneToOneField(
        "packets.Order", on_delete=models.PROTECT, related_name="referral_reward", verbose_name=_("order")
    )
    inviter = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, related_name="referral_rewards", verbose_name=_("inviter")
    )
    invitee = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+", verbose_name=_("invitee"))
    base = models.DecimalField(_("order gross"), **MONEY)
    rate = models.DecimalField(_("rate %"), **RATE)
    factor = models.DecimalField(_("multiplier"), max_digits=4, decimal_places=2, default=Decimal("1.00"))
    amount = models.DecimalField(_("amount"), **MONEY)
    # The share of `amount` that refunds of the order took back (cumulative; `status` is reversed when all of it).
    reversed_amount = models.DecimalField(_("reversed"), default=Decimal("0.00"), **MONEY)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    hold_until = models.DateTimeField(_("held until"), null=True, blank=True)
    # Held for a person's review (a risk verdict or a fraud finding): stays reserved, never confirmed, until released.
    held_for_review = models.BooleanField(_("held for review"), default=False)
    confirmed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("confirmed at"))
    ledger_transaction = models.ForeignKey(
        "rebates.LedgerTransaction",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("ledger transaction"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name_plural = _("referral rewards")
        verbose_name = _("referral reward")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="referral_reward_positive"),
            models.CheckConstraint(condition=~Q(inviter=models.F("invitee")), name="referral_reward_not_self"),
            models.CheckConstraint(
                condition=Q(reversed_amount__gte=0, reversed_amount__lte=models.F("amount")),
                name="referral_reward_reversal_within_amount",
            ),
            models.CheckConstraint(
                condition=~Q(status="reversed") | Q(reversed_amount=models.F("amount")),
                name="referral_reward_reversed_fully",
            ),
        ]
        indexes = [models.Index(fields=["status", "hold_until"], name="referral_reward_due")]

    def __str__(self):
        return f"{self.amount} → {self.inviter_id} for order {self.order_id}"


class MilestoneProgram(models.Model):
    """紅包反向系統: a course platform's campaign pays the teacher a % of a student's tuition once the student has
    completed the required lessons and passed the assessment, before the enrolment's deadline."""

    campaign = models.OneToOneField(
        Campaign, on_delete=models.CASCADE, related_name="milestone_program", verbose_name=_("campaign")
    )
    # xgettext:no-python-format
    teacher_rate = models.DecimalField(_("teacher rate % of tuition"), **RATE)

    class Meta:
        verbose_name_plural = _("milestone programs")
        verbose_name = _("milestone program")
        constraints = [
            models.CheckConstraint(
                condition=Q(teacher_rate__gt=0, teacher_rate__lte=100), name="milestone_program_rate_range"
            ),
        ]

    def __str__(self):
        return f"{self.teacher_rate}% of tuition"

    def clean(self):
        if self.teacher_rate is not None and not (0 < self.teacher_rate <= 100):
            raise ValidationError({"teacher_rate": _("A rate must be above 0 and at most 100 %.")})
        campaign = getattr(self, "campaign", None)
        if campaign is not None and campaign.merchant_id is None:
            raise ValidationError(_("A milestone program belongs to a course platform: choose a merchant campaign."))


class Enrolment(models.Model):
    """A student's enrolment with a teacher, reported by the course platform. Its reward (rate × tuition, fixed at
    enrolment) is reserved from the campaign budget at once, paid to the teacher on the milestone, or released
    back when the deadline passes."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        PAID = "paid", _("paid")
        EXPIRED = "expired", _("expired")

    campaign = models.ForeignKey(
        Campaign, on_delete=models.PROTECT, related_name="enrolments", verbose_name=_("campaign")
    )
    teacher = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, related_name="taught_enrolments", verbose_name=_("teacher")
    )
    student = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, related_name="enrolments", verbose_name=_("student")
    )
    external_id = models.CharField(_("course platform's id"), max_length=100)
    tuition = models.DecimalField(_("tuition"), **MONEY)
    lessons_required = models.PositiveIntegerField(_("lessons required"))
    lessons_completed = models.PositiveIntegerField(_("lessons completed"), default=0)
    assessment_passed = models.BooleanField(_("assessment passed"), default=False)
    deadline = models.DateTimeField(_("deadline"))
    rate = models.DecimalField(_("teacher rate %"), **RATE)
    reward = models.DecimalField(_("teacher reward"), **MONEY)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    paid_at = models.DateTimeField(null=True, blank=True, verbose_name=_("paid at"))
    expired_at = models.DateTimeField(null=True, blank=True, verbose_name=_("expired at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name_plural = _("enrolments")
        verbose_name = _("enrolment")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "external_id"], name="enrolment_external_id_unique"),
            models.CheckConstraint(condition=~Q(teacher=models.F("student")), name="enrolment_teacher_not_student"),
            models.CheckConstraint(condition=Q(tuition__gt=0), name="enrolment_tuition_positive"),
            models.CheckConstraint(condition=Q(lessons_required__gt=0), name="enrolment_lessons_positive"),
            models.CheckConstraint(condition=Q(reward__gt=0), name="enrolment_reward_positive"),
        ]
        indexes = [
            models.Index(fields=["deadline"], condition=Q(status="pending"), name="enrolment_pending_deadline"),
        ]

    def __str__(self):
        return f"{self.external_id} ({self.status})"

    @property
    def milestone_met(self) -> bool:
        return self.lessons_completed >= self.lessons_required and self.assessment_passed


class MilestoneAttestation(models.Model):
    """One progress report from the course platform. Its event id is unique per course platform (merchant): a
    replay gets the stored reply; the same id with another payload is refused."""

    merchant = models.ForeignKey(
        "accounts.Merchant", on_delete=models.PROTECT, related_name="+", verbose_name=_("merchant")
    )
    enrolment = models.ForeignKey(
        Enrolment, on_delete=models.PROTECT, related_name="attestations", verbose_name=_("enrolment")
    )
    event_id = models.CharField(max_length=100, verbose_name=_("event ID"))
    lessons_completed = models.PositiveIntegerField(verbose_name=_("lessons completed"))
    assessment_passed = models.BooleanField(verbose_name=_("assessment passed"))
    reply = models.JSONField(verbose_name=_("reply"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name_plural = _("milestone attestations")
        verbose_name = _("milestone attestation")
        constraints = [
            models.UniqueConstraint(fields=["merchant", "event_id"], name="milestone_attestation_event_unique")
        ]


class TrialProgram(models.Model):
    """新品試用: a packet of this campaign buys a trial size; the shopper's feedback earns points scaled by its grade;
    the merchant earns a marketing-fee rebate on full-size purchases the trial drove, within the window."""

    campaign = models.OneToOneField(
        Campaign, on_delete=models.CASCADE, related_name="trial_program", verbose_name=_("campaign")
    )
    trial_skus = ArrayField(models.CharField(max_length=64), blank=True, default=list, verbose_name=_("trial SKUs"))
    trial_category = models.CharField(_("trial category"), max_length=50, blank=True)
    full_skus = ArrayField(models.CharField(max_length=64), blank=True, default=list, verbose_name=_("full-size SKUs"))
    full_category = models.CharField(_("full-size category"), max_length=50, blank=True)
    reward_a = models.DecimalField(_("reward for grade A (CNY of points)"), default=Decimal("5.00"), **MONEY)
    reward_b = models.DecimalField(_("reward for grade B (CNY of points)"), default=Decimal("2.00"), **MONEY)
    reward_c = models.DecimalField(_("reward for grade C (CNY of points)"), default=Decimal("0.00"), **MONEY)
    points_per_cny = models.PositiveIntegerField(_("points per CNY"), default=100)
    auto_grade = models.BooleanField(
        _("grade feedback by the scoring rule on submission"),
        default=False,
        help_text=_("Off: a reviewer grades each feedback in admin."),
    )
    attribution_days = models.PositiveIntegerField(_("attribution window (days after the trial order)"), default=30)
    # xgettext:no-python-format
    merchant_fee_rate = models.DecimalField(_("merchant marketing-fee rate % on full-size purchases"), **RATE)

    class Meta:
        verbose_name_plural = _("trial programs")
        verbose_name = _("trial program")
        constraints = [
            models.CheckConstraint(
                condition=Q(reward_a__gte=0, reward_b__gte=0, reward_c__gte=0), name="trial_program_rewards_non_neg"
            ),
            models.CheckConstraint(
                condition=Q(merchant_fee_rate__gte=0, merchant_fee_rate__lte=100), name="trial_program_fee_range"
            ),
            models.CheckConstraint(condition=Q(points_per_cny__gt=0), name="trial_program_points_positive"),
            models.CheckConstraint(condition=Q(attribution_days__gt=0), name="trial_program_window_positive"),
        ]

    def __str__(self):
        return f"trial of {', '.join(self.trial_skus) or self.trial_category}"

    def clean(self):
        errors = {}
        if not self.trial_skus and not self.trial_category:
            errors["trial_skus"] = _("Name the trial items: SKUs or a category.")
        if not self.full_skus and not self.full_category:
            errors["full_skus"] = _("Name the full-size items: SKUs or a category.")
        for field in ("reward_a", "reward_b", "reward_c"):
            value = getattr(self, field)
            if value is not None and value < 0:
                errors[field] = _("Amounts cannot be negative.")
        if self.merchant_fee_rate is not None and not (0 <= self.merchant_fee_rate <= 100):
            errors["merchant_fee_rate"] = _("A rate must be between 0 and 100 %.")
        campaign = getattr(self, "campaign", None)
        if campaign is not None and campaign.merchant_id is None:
            errors["campaign"] = _("A trial program belongs to the merchant whose product is tried.")
        if errors:
            raise ValidationError(errors)

    def is_trial_line(self, sku: str, category: str) -> bool:
        return sku in self.trial_skus or (bool(self.trial_category) and category == self.trial_category)

    def is_full_size_line(self, sku: str, category: str) -> bool:
        if self.is_trial_line(sku, category):
            return False
        return sku in self.full_skus or (bool(self.full_category) and category == self.full_category)

    def reward_for(self, grade: str) -> Decimal:
        return {"A": self.reward_a, "B": self.reward_b, "C": self.reward_c}[grade]


class Feedback(models.Model):
    """A shopper's feedback on a trial order: one per order, graded once, rewarded once."""

    class Grade(models.TextChoices):
        A = "A", _("A — detailed and useful")
        B = "B", _("B — some substance")
        C = "C", _("C — too short to use")

    class GradedBy(models.TextChoices):
        REVIEWER = "reviewer", _("reviewer")
        RULE = "rule", _("scoring rule")

    program = models.ForeignKey(
        TrialProgram, on_delete=models.PROTECT, related_name="feedback", verbose_name=_("program")
    )
    order = models.OneToOneField(
        "packets.Order", on_delete=models.PROTECT, related_name="trial_feedback", verbose_name=_("order")
    )
    shopper = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, related_name="trial_feedback", verbose_name=_("shopper")
    )
    text = models.TextField(_("feedback"), max_length=4000)
    rating = models.PositiveSmallIntegerField(_("rating (1–5)"))
    grade = models.CharField(_("grade"), max_length=1, choices=Grade.choices, blank=True)
    graded_by = models.CharField(max_length=16, choices=GradedBy.choices, blank=True, verbose_name=_("graded by"))
    reviewer = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("reviewer")
    )
    graded_at = models.DateTimeField(null=True, blank=True, verbose_name=_("graded at"))
    reward_cost = models.DecimalField(_("reward (CNY)"), default=Decimal("0.00"), **MONEY)
    reward_points = models.PositiveIntegerField(_("reward (points)"), default=0)
    ledger_transaction = models.ForeignKey(
        "rebates.LedgerTransaction",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("ledger transaction"),
    )
    # Set when a full refund of the trial order took the reward back (`trial:feedback:<id>:reverse`).
    reversed_at = models.DateTimeField(_("reward reversed at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("trial feedback")
        verbose_name_plural = _("trial feedback")
        constraints = [
            models.CheckConstraint(condition=Q(rating__gte=1, rating__lte=5), name="feedback_rating_range"),
            models.CheckConstraint(condition=Q(grade="") | Q(graded_at__isnull=False), name="feedback_graded_has_time"),
        ]

    def __str__(self):
        return f"feedback on order {self.order_id} ({self.grade or 'ungraded'})"


class TrialAttribution(models.Model):
    """The marketing-fee rebate a full-size purchase earned the merchant whose trial drove it. One per order."""

    class Status(models.TextChoices):
        CREDITED = "credited", _("credited")
        UNFUNDED = "unfunded", _("not paid: the platform marketing pool could not cover it")
        REVERSED = "reversed", _("reversed: the order was refunded")

    program = models.ForeignKey(
        TrialProgram, on_delete=models.PROTECT, related_name="attributions", verbose_name=_("program")
    )
    order = models.OneToOneField(
        "packets.Order", on_delete=models.PROTECT, related_name="trial_attribution", verbose_name=_("order")
    )
    trial_order = models.ForeignKey(
        "packets.Order", on_delete=models.PROTECT, related_name="+", verbose_name=_("trial order")
    )
    merchant = models.ForeignKey(
        "accounts.Merchant", on_delete=models.PROTECT, related_name="trial_attributions", verbose_name=_("merchant")
    )
    base = models.DecimalField(_("full-size amount"), **MONEY)
    rate = models.DecimalField(_("rate %"), **RATE)
    amount = models.DecimalField(_("amount"), **MONEY)
    # The share of `amount` that refunds of the order took back (cumulative; `status` is reversed when all of it).
    reversed_amount = models.DecimalField(_("reversed"), default=Decimal("0.00"), **MONEY)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    ledger_transaction = models.ForeignKey(
        "rebates.LedgerTransaction",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("ledger transaction"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name_plural = _("trial attributions")
        verbose_name = _("trial attribution")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="trial_attribution_positive"),
            models.CheckConstraint(
                condition=Q(reversed_amount__gte=0, reversed_amount__lte=models.F("amount")),
                name="trial_attribution_reversal_within_amount",
            ),
            models.CheckConstraint(
                condition=~Q(status="reversed") | Q(reversed_amount=models.F("amount")),
                name="trial_attribution_reversed_fully",
            ),
        ]

    def __str__(self):
        return f"{self.amount} → merchant {self.merchant_id} for order {self.order_id}"
