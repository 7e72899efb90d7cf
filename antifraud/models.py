"""Anti-fraud state: per-campaign limits and policy, exact earning counters, shopping trails, risk assessments,
detector findings, the review trail, appeals, allow/block lists and the scam guard's approvals.

Read docs/ANTIFRAUD.md for how these fit together and the fixed order in which rules are evaluated."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class RiskPolicy(models.Model):
    """How one campaign guards its earning paths. A campaign without a row uses these field defaults, which are the
    seed's example: at most 5 packets per IP (and per device) a day, at least 10 minutes apart."""

    class Action(models.TextChoices):
        ALLOW = "allow", _("allow (monitor only)")  # assess and record, never hold or block
        HOLD = "hold", _("hold for review")  # hold risky rebates; never refuse a redemption
        BLOCK = "block", _("hold, and block the riskiest")  # hold at the review score, refuse at the block score

    campaign = models.OneToOneField(
        "campaigns.Campaign", on_delete=models.CASCADE, related_name="risk_policy", verbose_name=_("campaign")
    )
    ip_daily_limit = models.PositiveIntegerField(
        _("packets per IP per day"), default=5, help_text=_("Per earning path (earning, spending); 0 = no limit.")
    )
    device_daily_limit = models.PositiveIntegerField(_("packets per device per day"), default=5)
    account_daily_limit = models.PositiveIntegerField(_("packets per account per day"), default=0)
    min_interval_minutes = models.PositiveIntegerField(
        _("minutes between two packets"),
        default=10,
        help_text=_("From one IP or one device, per earning path; 0 = no minimum."),
    )
    action = models.CharField(_("action on risky activity"), max_length=8, choices=Action.choices, default="block")
    review_score = models.PositiveSmallIntegerField(_("hold for review from score"), default=50)
    block_score = models.PositiveSmallIntegerField(_("block from score"), default=90)
    trail_required = models.BooleanField(
        _("expect a shopping trail"),
        default=False,
        help_text=_(
            "Judge the shopping trail behind each order: none, too fast, or the same scripted steps as other "
            "accounts score as suspicious. Turn on once the shop's pages or servers report trail events."
        ),
    )

    class Meta:
        verbose_name = _("risk policy")
        verbose_name_plural = _("risk policies")
        constraints = [models.CheckConstraint(condition=Q(review_score__lte=F("block_score")), name="policy_scores")]

    def __str__(self):
        return f"{self.campaign_id}: {self.action}"


class EarnCounter(models.Model):
    """Exact per-day counts behind the limits, one row per (campaign, path, scope, key), bumped by one conditional
    upsert so concurrent requests can never pass a limit together (see antifraud/limits.py)."""

    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="+")
    path = models.CharField(max_length=8)  # earn | redeem
    scope = models.CharField(max_length=8)  # ip | device | account
    key = models.CharField(max_length=160)
    day = models.DateField()
    count = models.PositiveIntegerField()
    last_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "path", "scope", "key"], name="earn_counter_unique"),
        ]


class EarningEvent(models.Model):
    """Where each packet was earned, claimed or spent from: the evidence the detectors and signals read."""

    class Kind(models.TextChoices):
        ISSUE = "issue", _("issued")
        CLAIM = "claim", _("claimed")
        REDEEM = "redeem", _("spent")

    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="+")
    packet = models.ForeignKey("packets.Packet", on_delete=models.CASCADE, related_name="earning_events")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="earning_events")
    ip = models.GenericIPAddressField(_("IP"), null=True, blank=True)
    device = models.ForeignKey("accounts.Device", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("earning event")
        verbose_name_plural = _("earning events")
        indexes = [
            models.Index(fields=["ip", "at"], name="earning_ip_at"),
            models.Index(fields=["device", "at"], name="earning_device_at"),
            models.Index(fields=["user", "at"], name="earning_user_at"),
        ]


class TrailSession(models.Model):
    """A shopping session (a page session, or a session id a merchant's server reports). Bound to the first user
    that writes to it: events for someone else's session are refused."""

    key = models.CharField(max_length=160, unique=True)  # namespaced: "page:<hash>" or "m<merchant id>:<id>"
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="trail_sessions")
    created_at = models.DateTimeField(auto_now_add=True)
    # The shape of the trail when an order used it (kinds and whole-second gaps): bots replay one shape.
    signature = models.CharField(max_length=64, blank=True, db_index=True)
    signed_at = models.DateTimeField(null=True, blank=True)


class TrailEvent(models.Model):
    class Kind(models.TextChoices):
        BROWSE = "browse", _("browse")
        COMPARE_PRICE = "compare_price", _("compare prices")
        ADD_TO_CART = "add_to_cart", _("add to cart")
        CHECKOUT = "checkout", _("checkout")

    session = models.ForeignKey(TrailSession, on_delete=models.CASCADE, related_name="events")
    event_id = models.CharField(max_length=64)  # the client's id: a replay of the same event is recorded once
    kind = models.CharField(max_length=16, choices=Kind.choices)
    sku = models.CharField(max_length=64, blank=True)
    at = models.DateTimeField()  # when the server received it: a client cannot backdate a plausible trail

    class Meta:
        constraints = [models.UniqueConstraint(fields=["session", "event_id"], name="trail_event_once")]
        indexes = [models.Index(fields=["session", "at"], name="trail_session_at")]


class RiskAssessment(models.Model):
    """The verdict on one redemption, one rebate, or one refused attempt: score, decision, and the signals that
    fired, each in plain words."""

    class Subject(models.TextChoices):
        REDEMPTION = "redemption", _("redemption")
        REBATE = "rebate", _("rebate")
        ATTEMPT = "attempt", _("refused attempt")
        REFERRAL = "referral", _("referral reward")

    class Decision(models.TextChoices):
        ALLOW = "allow", _("allow")
        REVIEW = "review", _("hold for review")
        BLOCK = "block", _("block")

    subject = models.CharField(_("subject"), max_length=12, choices=Subject.choices)
    redemption = models.ForeignKey(
        "packets.Redemption", null=True, blank=True, on_delete=models.CASCADE, related_name="risk_assessments"
    )
    rebate = models.OneToOneField(
        "rebates.Rebate", null=True, blank=True, on_delete=models.CASCADE, related_name="risk_assessment"
    )
    referral_reward = models.OneToOneField(
        "campaigns.ReferralReward", null=True, blank=True, on_delete=models.CASCADE, related_name="risk_assessment"
    )
    campaign = models.ForeignKey("campaigns.Campaign", null=True, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.CASCADE, related_name="+")
    score = models.PositiveSmallIntegerField(_("score"))
    decision = models.CharField(_("decision"), max_length=8, choices=Decision.choices)
    signals = models.JSONField(_("signals"), default=list)  # [{"code", "weight", "detail"}] in evaluation order
    policy = models.JSONField(default=dict)  # the thresholds the decision was taken with
    # A redemption's trail shape (antifraud/trail.py): the scripted-trail detector groups redemptions by it.
    trail_signature = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(_("assessed at"), auto_now_add=True)

    class Meta:
        verbose_name = _("risk assessment")
        verbose_name_plural = _("risk assessments")
        constraints = [
            models.UniqueConstraint(
                fields=["redemption"], condition=Q(subject="redemption"), name="one_assessment_per_redemption"
            ),
        ]
        indexes = [
            models.Index(fields=["decision", "-created_at"], name="assessment_decision"),
            models.Index(
                fields=["trail_signature"], condition=~Q(trail_signature=""), name="assessment_trail_signature"
            ),
        ]

    def __str__(self):
        return f"{self.get_subject_display()} · {self.get_decision_display()} ({self.score})"


class Finding(models.Model):
    """What a detector found over recent activity, explained; reruns update the same finding (by fingerprint)."""

    class Kind(models.TextChoices):
        COLLUSION = "collusion", _("merchant–consumer collusion")
        SELF_REFERRAL = "self_referral", _("self-referral")
        REFERRAL_FARM = "referral_farm", _("referral farm")
        CIRCULAR_FLOW = "circular_flow", _("circular packet flow")
        PACKET_FARM = "packet_farm", _("packet farming")
        SCRIPTED_TRAIL = "scripted_trail", _("scripted shopping trail")

    class Status(models.TextChoices):
        OPEN = "open", _("open")
        CONFIRMED = "confirmed", _("confirmed")
        DISMISSED = "dismissed", _("dismissed")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    fingerprint = models.CharField(max_length=64)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    merchant = models.ForeignKey("accounts.Merchant", null=True, blank=True, on_delete=models.CASCADE)
    user_ids = ArrayField(models.BigIntegerField(), default=list, verbose_name=_("accounts"))
    explanation = models.TextField(_("explanation"))
    evidence = models.JSONField(_("evidence"), default=dict)
    detected_at = models.DateTimeField(_("detected at"), auto_now_add=True)
    last_seen_at = models.DateTimeField(_("last seen at"), auto_now=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("finding")
        verbose_name_plural = _("findings")
        constraints = [models.UniqueConstraint(fields=["kind", "fingerprint"], name="finding_once")]
        indexes = [GinIndex(fields=["user_ids"], name="finding_users")]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk}"


class ReviewAction(models.Model):
    """Every penalty and review decision, with who (None: the system) and why. Append-only."""

    class Action(models.TextChoices):
        HOLD = "hold", _("held for review")
        RELEASE = "release", _("released")
        REJECT = "reject", _("rejected")
        REVOKE_PACKET = "revoke_packet", _("packet revoked")
        BAN_USER = "ban_user", _("account banned")
        UNBAN_USER = "unban_user", _("account unbanned")
        BAN_DEVICE = "ban_device", _("device banned")
        UNBAN_DEVICE = "unban_device", _("device unbanned")
        CONFIRM_FINDING = "confirm_finding", _("finding confirmed")
        DISMISS_FINDING = "dismiss_finding", _("finding dismissed")
        APPROVE_CAMPAIGN = "approve_campaign", _("campaign approved")
        REJECT_CAMPAIGN = "reject_campaign", _("campaign approval refused")
        ACCEPT_APPEAL = "accept_appeal", _("appeal accepted")
        REJECT_APPEAL = "reject_appeal", _("appeal rejected")

    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    target = models.CharField(_("target"), max_length=64)  # "rebate:12", "user:7", "finding:3"
    reason = models.TextField(_("reason"))
    created_at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("review action")
        verbose_name_plural = _("review actions")
        indexes = [models.Index(fields=["target"], name="review_action_target")]

    def __str__(self):
        return f"{self.get_action_display()} {self.target}"


class Appeal(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("open")
        ACCEPTED = "accepted", _("accepted")
        REJECTED = "rejected", _("rejected")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="appeals")
    text = models.TextField(_("what happened"))
    contact = models.CharField(_("how to reach you"), max_length=100, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(_("sent at"), auto_now_add=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    handled_at = models.DateTimeField(null=True, blank=True)
    response = models.TextField(_("response"), blank=True)

    class Meta:
        verbose_name = _("appeal")
        verbose_name_plural = _("appeals")
        constraints = [
            # One open appeal at a time: a double-submitted form lands once.
            models.UniqueConstraint(fields=["user"], condition=Q(status="open"), name="one_open_appeal")
        ]


class ListEntry(models.Model):
    """Radar-style lists, evaluated before any score: an allow entry skips scoring, a block entry refuses."""

    class List(models.TextChoices):
        ALLOW = "allow", _("allow list")
        BLOCK = "block", _("block list")

    class Kind(models.TextChoices):
        USER = "user", _("account id")
        DEVICE = "device", _("device id")
        IP = "ip", _("IP address")

    list = models.CharField(_("list"), max_length=8, choices=List.choices)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    value = models.CharField(_("value"), max_length=160)
    reason = models.CharField(_("reason"), max_length=200)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("list entry")
        verbose_name_plural = _("allow and block lists")
        constraints = [models.UniqueConstraint(fields=["list", "kind", "value"], name="list_entry_unique")]


class CampaignApproval(models.Model):
    """The scam guard's gate: a campaign whose shape looks like a pyramid goes live only once an operator approves."""

    class Status(models.TextChoices):
        REQUIRED = "required", _("waiting for approval")
        APPROVED = "approved", _("approved")
        REFUSED = "refused", _("refused")

    campaign = models.OneToOneField("campaigns.Campaign", on_delete=models.CASCADE, related_name="approval")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.REQUIRED)
    signals = models.JSONField(_("why"), default=list)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("campaign approval")
        verbose_name_plural = _("campaign approvals")
