from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from common.money import CNY, POINTS

MONEY = {"max_digits": 14, "decimal_places": 2}


class AccountKind(models.TextChoices):
    PLATFORM_EXTERNAL = "platform_external", _("platform external (outside world)")
    PLATFORM_MARKETING_POOL = "platform_marketing_pool", _("platform marketing pool")
    MERCHANT_DEPOSIT = "merchant_deposit", _("merchant deposit")
    CAMPAIGN_BUDGET = "campaign_budget", _("campaign budget")
    PACKETS_OUTSTANDING = "packets_outstanding", _("packets outstanding")
    REBATE_RESERVE = "rebate_reserve", _("rebates reserved")
    MERCHANT_MARKETING_CREDIT = "merchant_marketing_credit", _("merchant marketing credit")
    SHOPPER_CASH = "shopper_cash", _("shopper cash wallet")
    SHOPPER_POINTS = "shopper_points", _("shopper points")
    POINTS_BACKING = "points_backing", _("cash backing issued points")
    # Two-phase rebates: a held rebate sits in the beneficiary's pending account (visible, not spendable) until its
    # hold ends (posted to the available account) or its order is refunded (voided back to the funder).
    SHOPPER_CASH_PENDING = "shopper_cash_pending", _("shopper cash (pending)")
    SHOPPER_POINTS_PENDING = "shopper_points_pending", _("shopper points (pending)")
    MERCHANT_CREDIT_PENDING = "merchant_credit_pending", _("merchant marketing credit (pending)")
    # What a beneficiary owes after a clawback larger than their balance; netted from their next rebates.
    # Its balance is zero or negative (a receivable), never positive.
    PAYOUT_CLEARING = "payout_clearing", _("payouts in flight")
    SHOPPER_DEBT = "shopper_debt", _("shopper debt")
    MERCHANT_DEBT = "merchant_debt", _("merchant debt")
    # What lucky packets hold between sending and grabbing (lucky/ledger.py): one pass-through row for all packets.
    LUCKY_ESCROW = "lucky_escrow", _("lucky money escrow")


# The outside world goes negative as money (or points) enters; a debt account is a receivable (≤ 0).
NEGATIVE_ALLOWED = {AccountKind.PLATFORM_EXTERNAL, AccountKind.SHOPPER_DEBT, AccountKind.MERCHANT_DEBT}
DEBT_KINDS = (AccountKind.SHOPPER_DEBT, AccountKind.MERCHANT_DEBT)


class PostingMode(models.TextChoices):
    """How an account's stored balance follows its entries (docs/ARCHITECTURE.md, "Hot accounts").

    LIVE: the entry trigger moves the stored balance at once (the row is updated, so locked, until COMMIT).
    BUFFERED: the trigger leaves the row alone; the balance is the rolled-up `stored_balance` plus the entries after
    the account's `watermark`. Credits touch no shared row; a debit locks the row and checks that live balance.
    PASS_THROUGH: buffered, and its debits are not checked either: each one takes back what an earlier credit of the
    same packet or redemption put in (a packet's value leaves "outstanding" once, under the packet's row lock).
    """

    LIVE = "live", _("live balance")
    BUFFERED = "buffered", _("buffered credits, checked debits")
    PASS_THROUGH = "pass_through", _("pass-through")


# The accounts every redemption of a campaign touches: none of them is a row that redemptions take turns on.
POSTING_MODE_BY_KIND = {
    AccountKind.CAMPAIGN_BUDGET: PostingMode.BUFFERED,
    AccountKind.MERCHANT_DEPOSIT: PostingMode.BUFFERED,
    AccountKind.PLATFORM_MARKETING_POOL: PostingMode.BUFFERED,
    AccountKind.PACKETS_OUTSTANDING: PostingMode.PASS_THROUGH,
    AccountKind.REBATE_RESERVE: PostingMode.PASS_THROUGH,
    AccountKind.LUCKY_ESCROW: PostingMode.PASS_THROUGH,
}


class LedgerAccount(models.Model):
    kind = models.CharField(max_length=32, choices=AccountKind.choices, verbose_name=_("kind"))
    currency = models.CharField(
        max_length=8, choices=[(CNY, _("CNY")), (POINTS, _("points"))], default=CNY, verbose_name=_("currency")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, verbose_name=_("user")
    )
    merchant = models.ForeignKey(
        "accounts.Merchant", null=True, blank=True, on_delete=models.PROTECT, verbose_name=_("merchant")
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.PROTECT, verbose_name=_("campaign")
    )
    # LIVE accounts: moved by a database trigger on every entry insert. Other modes: the roll-up of the entries
    # before `watermark` (a transaction id: every transaction below it had finished when it was rolled up).
    # `audit` proves both. Read `balance`, which is always the exact one.
    stored_balance = models.DecimalField(
        default=Decimal("0.00"), editable=False, db_column="balance", **MONEY, verbose_name=_("stored balance")
    )
    allow_negative = models.BooleanField(default=False, editable=False, verbose_name=_("allow negative"))
    posting_mode = models.CharField(
        max_length=12,
        choices=PostingMode.choices,
        default=PostingMode.LIVE,
        editable=False,
        verbose_name=_("posting mode"),
    )
    watermark = models.BigIntegerField(default=0, editable=False, verbose_name=_("watermark"))
    # 0: the account itself. 1..N: a float of a BUFFERED account (same owner and kind), a LIVE slice of its money
    # that redemptions debit without queueing on the account's own row (rebates/ledger/floats.py).
    shard = models.PositiveSmallIntegerField(default=0, editable=False, verbose_name=_("shard"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("ledger account")
        verbose_name_plural = _("ledger accounts")
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "currency", "user", "merchant", "campaign", "shard"],
                name="ledger_account_unique_owner_kind",
                nulls_distinct=False,
            ),
            models.CheckConstraint(
                condition=Q(allow_negative=True) | Q(stored_balance__gte=0), name="ledger_account_non_negative"
            ),
            models.CheckConstraint(
                condition=~Q(currency=POINTS)
                | Q(stored_balance=models.Func(models.F("stored_balance"), function="trunc")),
                name="ledger_account_points_whole",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["shopper_debt", "merchant_debt"]) | Q(stored_balance__lte=0),
                name="ledger_account_debt_not_positive",
            ),
        ]

    def __str__(self):
        owner = self.user or self.merchant or self.campaign or _("platform")
        return f"{self.get_kind_display()} [{owner}] {self.currency}"

    def refresh_from_db(self, *args, **kwargs):
        self.locked_balance = None  # what was read under a lock is history once the row is read again
        super().refresh_from_db(*args, **kwargs)

    @property
    def balance(self) -> Decimal:
        """The exact balance: the stored one for a LIVE account; else the roll-up plus the entries after it, plus
        the account's floats (their money is still the account's: a campaign's budget is all of it). A row just
        locked by `ledger_accounts_lock` answers with what it read under the lock (without floats)."""
        if getattr(self, "locked_balance", None) is not None:
            return self.locked_balance
        if self.posting_mode == PostingMode.LIVE:
            return self.stored_balance
        from .selectors import account_balance  # the query lives with the reads

        return account_balance(self)


class LedgerTransaction(models.Model):
    kind = models.CharField(max_length=32, verbose_name=_("kind"))
    idempotency_key = models.CharField(max_length=200, unique=True, verbose_name=_("idempotency key"))
    reference = models.CharField(
        max_length=100,
        db_index=True,
        help_text=_("The business event, e.g. redemption:42"),
        verbose_name=_("reference"),
    )
    memo = models.CharField(max_length=200, blank=True, verbose_name=_("memo"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("ledger transaction")
        verbose_name_plural = _("ledger transactions")

    def __str__(self):
        return f"{self.kind} {self.reference}"


class Entry(models.Model):
    """Append-only: the database refuses UPDATE and DELETE; corrections are new, reversing transactions."""

    transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, related_name="entries", verbose_name=_("transaction")
    )
    account = models.ForeignKey(
        LedgerAccount, on_delete=models.PROTECT, related_name="entries", verbose_name=pgettext_lazy("ledger", "account")
    )
    amount = models.DecimalField(**MONEY, verbose_name=_("amount"))

    class Meta:
        verbose_name = _("entry")
        verbose_name_plural = _("entries")
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="ledger_entry_non_zero")]

    def __str__(self):
        return f"{self.account} {self.amount}"


class Rebate(models.Model):
    """One leg of a two-way rebate: to the packet's issuer or to its holder, for one redemption."""

    class Role(models.TextChoices):
        ISSUER = "issuer", _("issuer")
        HOLDER = "holder", _("holder")

    class Form(models.TextChoices):
        CASH = "cash", _("cash")
        POINTS = "points", _("points")
        MARKETING_CREDIT = "marketing_credit", _("marketing credit")
        COUPON = "coupon", _("coupon")

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        CREDITED = "credited", _("credited")
        REVERSED = "reversed", _("reversed")

    redemption = models.ForeignKey(
        "packets.Redemption", on_delete=models.PROTECT, related_name="rebates", verbose_name=_("redemption")
    )
    role = models.CharField(_("role"), max_length=8, choices=Role.choices)
    beneficiary_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="rebates",
        verbose_name=_("beneficiary user"),
    )
    beneficiary_merchant = models.ForeignKey(
        "accounts.Merchant",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="rebates",
        verbose_name=_("beneficiary merchant"),
    )
    amount = models.DecimalField(_("amount"), **MONEY)  # what the beneficiary receives, in `currency`
    currency = models.CharField(max_length=8, default=CNY, verbose_name=_("currency"))
    cost = models.DecimalField(_("cost (CNY)"), default=Decimal("0.00"), **MONEY)  # what it cost its funder
    funding = models.CharField(
        max_length=16,
        default="campaign_budget",
        # The values of campaigns' RebateRule.Funding (a lower layer cannot import it); labels only.
        choices=[("campaign_budget", _("campaign budget")), ("platform_pool", _("platform marketing pool"))],
        verbose_name=_("funding"),
    )
    form = models.CharField(_("form"), max_length=16, choices=Form.choices)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.CREDITED)
    hold_until = models.DateTimeField(_("held until"), null=True, blank=True)
    held_for_review = models.BooleanField(_("held for review"), default=False)
    confirmed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("confirmed at"))
    reversed_amount = models.DecimalField(_("reversed"), default=Decimal("0.00"), **MONEY)  # in `currency`
    ledger_transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, related_name="rebates", verbose_name=_("ledger transaction")
    )
    # A coupon rebate is a packet issued to the beneficiary, usable on the next purchase.
    coupon = models.OneToOneField(
        "packets.Packet",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="rebate_coupon",
        verbose_name=_("coupon"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("rebate")
        verbose_name_plural = _("rebates")
        constraints = [
            models.UniqueConstraint(fields=["redemption", "role"], name="rebate_once_per_redemption_role"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="rebate_amount_positive"),
            models.CheckConstraint(
                condition=Q(reversed_amount__gte=0, reversed_amount__lte=models.F("amount")),
                name="rebate_reversal_within_amount",
            ),
            models.CheckConstraint(
                condition=~Q(status="reversed") | Q(reversed_amount=models.F("amount")), name="rebate_reversed_fully"
            ),
            models.CheckConstraint(
                condition=Q(beneficiary_user__isnull=False) | Q(beneficiary_merchant__isnull=False),
                name="rebate_has_beneficiary",
            ),
        ]

    def __str__(self):
        return f"{self.get_role_display()} {self.amount} {self.currency}"


class OutboxEvent(models.Model):
    """Written in the same transaction as the business event; done when its effect is committed.

    A sweeper re-publishes rows not done in time, so no effect depends on the broker keeping a message."""

    topic = models.CharField(max_length=50, verbose_name=_("topic"))
    ref_id = models.BigIntegerField(verbose_name=_("reference ID"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    published_at = models.DateTimeField(null=True, verbose_name=_("published at"))
    attempts = models.PositiveIntegerField(default=0, verbose_name=_("attempts"))
    done_at = models.DateTimeField(null=True, verbose_name=_("done at"))

    class Meta:
        verbose_name = _("outbox event")
        verbose_name_plural = _("outbox events")
        constraints = [models.UniqueConstraint(fields=["topic", "ref_id"], name="outbox_unique_topic_ref")]
        indexes = [
            models.Index(fields=["created_at"], condition=Q(done_at__isnull=True), name="outbox_pending"),
        ]

    def __str__(self):
        return f"{self.topic} #{self.ref_id}"


# Payouts live in their own module; imported here so Django registers the models with this app.
from .payouts.models import Payout, WechatOpenId  # noqa: E402, F401
from .webhooks.models import WebhookDelivery, WebhookEndpoint  # noqa: E402, F401
