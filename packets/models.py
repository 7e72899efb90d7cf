from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MONEY = {"max_digits": 14, "decimal_places": 2}


class Packet(models.Model):
    """The issuance record of seed §1: packet id, issuer, receiver, amount, issued at."""

    class Status(models.TextChoices):
        ISSUED = "issued", _("valid")
        USED = "used", _("used")
        EXPIRED = "expired", _("expired")
        REVOKED = "revoked", _("revoked")

    code = models.CharField(_("code"), max_length=32, unique=True)
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.PROTECT, related_name="packets", verbose_name=_("campaign")
    )
    earn_rule = models.ForeignKey(
        "campaigns.EarnRule", null=True, blank=True, on_delete=models.PROTECT, verbose_name=_("earn rule")
    )
    issuer_merchant = models.ForeignKey(
        "accounts.Merchant",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="issued_packets",
        verbose_name=_("issuer merchant"),
    )
    # A person who sent the packet (person → person, or the inviter of a referral): paid the issuer leg.
    issuer_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sent_packets",
        verbose_name=_("issuer user"),
    )
    # Empty until claimed, for batch-generated packets handed out by code, link or poster.
    holder = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="packets",
        verbose_name=_("holder"),
    )
    # Where the packet's value came from, and where an unused value returns (the campaign budget when empty).
    funding_account = models.ForeignKey(
        "rebates.LedgerAccount",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("funding account"),
    )
    channel = models.CharField(_("issued through"), max_length=16, default="order")
    amount = models.DecimalField(_("amount"), **MONEY)
    min_spend = models.DecimalField(_("minimum spend"), **MONEY)
    categories = ArrayField(models.CharField(max_length=50), blank=True, default=list, verbose_name=_("categories"))
    denied_categories = ArrayField(
        models.CharField(max_length=50), blank=True, default=list, verbose_name=_("denied categories")
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ISSUED)
    issued_at = models.DateTimeField(_("issued at"))
    expires_at = models.DateTimeField(_("expires at"))
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)
    source_order = models.ForeignKey(
        "packets.Order",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="earned_packets",
        verbose_name=_("source order"),
    )
    # The generation batch of an unclaimed packet handed out by code (packets/batch.py); empty otherwise.
    batch = models.ForeignKey(
        "packets.PacketBatch",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="packets",
        verbose_name=_("batch"),
    )

    class Meta:
        verbose_name = _("red packet")
        verbose_name_plural = _("red packets")
        indexes = [
            models.Index(fields=["holder", "status", "expires_at"]),
            models.Index(fields=["status", "expires_at"], name="packet_expiry_due"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="packet_amount_positive"),
            # One order earns at most one packet per earn rule, however often the order is retried.
            models.UniqueConstraint(fields=["source_order", "earn_rule"], name="packet_once_per_order_rule"),
        ]

    def __str__(self):
        return self.code


class Order(models.Model):
    class Channel(models.TextChoices):
        API = "api", _("merchant API")
        STORE = "store", _("demo store")

    merchant = models.ForeignKey(
        "accounts.Merchant", on_delete=models.PROTECT, related_name="orders", verbose_name=_("merchant")
    )
    shopper = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders", verbose_name=_("shopper")
    )
    order_no = models.CharField(_("order number"), max_length=64)
    gross_amount = models.DecimalField(_("gross amount"), **MONEY)
    packet = models.ForeignKey(
        Packet, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("packet")
    )
    discount = models.DecimalField(_("discount"), **MONEY)
    points_used = models.PositiveIntegerField(_("points used"), default=0)
    points_discount = models.DecimalField(_("paid with points"), default=0, **MONEY)
    amount_paid = models.DecimalField(_("amount paid"), **MONEY)
    channel = models.CharField(max_length=8, choices=Channel.choices, verbose_name=_("channel"))
    province = models.CharField(_("province"), max_length=32, blank=True)
    city = models.CharField(_("city"), max_length=32, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True, verbose_name=_("IP address"))
    device = models.ForeignKey(
        "accounts.Device", null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("device")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        constraints = [
            models.UniqueConstraint(fields=["merchant", "order_no"], name="order_no_unique_per_merchant"),
            models.CheckConstraint(condition=Q(gross_amount__gt=0), name="order_gross_positive"),
            models.CheckConstraint(
                condition=Q(amount_paid=models.F("gross_amount") - models.F("discount") - models.F("points_discount")),
                name="order_paid_adds_up",
            ),
            models.CheckConstraint(
                condition=Q(discount__gte=0, points_discount__gte=0, amount_paid__gte=0), name="order_non_negative"
            ),
        ]

    def __str__(self):
        return self.order_no


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines", verbose_name=_("order"))
    sku = models.CharField(max_length=64, verbose_name=_("SKU"))
    name = models.CharField(max_length=200, verbose_name=_("name"))
    category = models.CharField(max_length=50, verbose_name=_("category"))
    quantity = models.PositiveIntegerField(verbose_name=_("quantity"))
    unit_price = models.DecimalField(**MONEY, verbose_name=_("unit price"))

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="line_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="line_price_non_negative"),
        ]

    def __str__(self):
        return f"{self.name} × {self.quantity}"

    @property
    def line_total(self):
        return self.unit_price * self.quantity


class PacketNotIssued(models.Model):
    """A packet an order earned but did not get, and why (a stable code): the campaign's budget, its daily cap, its
    packet or per-user limit, or an anti-fraud limit stopped it. The order's reply and page say so, instead of a
    silent empty list of earned packets."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="not_issued", verbose_name=_("order"))
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.PROTECT, related_name="+", verbose_name=_("campaign")
    )
    earn_rule = models.ForeignKey(
        "campaigns.EarnRule", on_delete=models.PROTECT, related_name="+", verbose_name=_("earn rule")
    )
    amount = models.DecimalField(_("amount"), **MONEY)
    code = models.CharField(_("reason"), max_length=40)  # the latest refusal's, when a re-issue was refused again
    # Set when a re-issue succeeded (packets.services.packet_reissue_not_issued): the row stays as the record.
    reissued_packet = models.OneToOneField(
        Packet, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("re-issued as")
    )
    reissued_at = models.DateTimeField(_("re-issued at"), null=True, blank=True)
    created_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        verbose_name = _("packet not issued")
        verbose_name_plural = _("packets not issued")
        ordering = ["pk"]  # in the order the order's campaigns were judged
        constraints = [
            # As for issued packets (packet_once_per_order_rule): one outcome per order and earn rule.
            models.UniqueConstraint(fields=["order", "earn_rule"], name="not_issued_once_per_order_rule"),
        ]

    def __str__(self):
        return f"{self.order} ↛ {self.code}"


class Redemption(models.Model):
    """The use record of seed §1: packet, order number, order amount, items, used at.

    One-to-one with the packet: the database itself refuses a second use."""

    packet = models.OneToOneField(Packet, on_delete=models.PROTECT, related_name="redemption", verbose_name=_("packet"))
    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="redemption", verbose_name=_("order"))
    order_no = models.CharField(max_length=64, verbose_name=_("order number"))
    order_amount = models.DecimalField(**MONEY, verbose_name=_("order amount"))
    items = models.JSONField(verbose_name=_("items"))
    used_at = models.DateTimeField(verbose_name=_("used at"))
    # The campaign's rebate rule as it was at redemption: later edits never change a computed rebate.
    rule_snapshot = models.JSONField(verbose_name=_("rule snapshot"))

    class Meta:
        verbose_name_plural = _("redemptions")
        verbose_name = _("redemption")

    def __str__(self):
        return f"{self.packet} → {self.order_no}"


class Product(models.Model):
    """An item of the demo store (/store/): what a cart line is made of. Prices are the merchant's, in CNY."""

    merchant = models.ForeignKey(
        "accounts.Merchant", on_delete=models.PROTECT, related_name="products", verbose_name=_("merchant")
    )
    sku = models.CharField(_("SKU"), max_length=64)
    name = models.CharField(_("name"), max_length=200)
    category = models.CharField(_("category"), max_length=50)
    price = models.DecimalField(_("price"), **MONEY)
    emoji = models.CharField(_("picture (emoji or short text)"), max_length=8, blank=True)
    active = models.BooleanField(_("on sale"), default=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["merchant_id", "category", "name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "sku"], name="product_sku_unique_per_merchant"),
            models.CheckConstraint(condition=Q(price__gt=0), name="product_price_positive"),
        ]

    def __str__(self):
        return f"{self.name} ({self.sku})"


class PacketBatch(models.Model):
    """One batch generation of unclaimed packets (packets/batch.py): what was asked, how far it got, what it cost.

    Its packets and its one ledger transaction (key `batch:<id>`) commit together or not at all."""

    class Status(models.TextChoices):
        PENDING = "pending", _("waiting")
        RUNNING = "running", _("generating")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.PROTECT, related_name="packet_batches")
    earn_rule = models.ForeignKey("campaigns.EarnRule", on_delete=models.PROTECT, related_name="+")
    count = models.PositiveIntegerField(_("packets"))
    # amount:weight pairs as asked ("5.00:70,10.00:30"); empty = the rule's tiers, else its packet amount.
    tiers = models.CharField(_("tiers"), max_length=200, blank=True)
    valid_days = models.PositiveIntegerField(_("valid for days"))
    total = models.DecimalField(_("total reserved"), null=True, blank=True, **MONEY)
    generated = models.PositiveIntegerField(_("generated"), default=0)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    error = models.CharField(_("error"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("packet batch")
        verbose_name_plural = _("packet batches")
        constraints = [
            models.CheckConstraint(condition=Q(count__gt=0), name="packet_batch_count_positive"),
            models.CheckConstraint(condition=Q(valid_days__gt=0), name="packet_batch_valid_days_positive"),
        ]

    def __str__(self):
        return f"batch {self.pk} ({self.count})"


class Refund(models.Model):
    """A (partial) refund of an order. The refunded share reverses the rebates that share earned."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds", verbose_name=_("order"))
    amount = models.DecimalField(_("amount"), **MONEY)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name_plural = _("refunds")
        verbose_name = _("refund")
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive")]

    def __str__(self):
        return f"{self.order} −{self.amount}"


class CheckIn(models.Model):
    """One daily check-in of a shopper (seed §3: issuance on daily check-in). `day` is the calendar day in
    Asia/Shanghai; the unique (user, day) makes a double submit one check-in. `streak` counts consecutive days
    ending with this one."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="check_ins", verbose_name=_("user")
    )
    day = models.DateField(_("day"))
    streak = models.PositiveIntegerField(_("streak (days)"), default=1)
    created_at = models.DateTimeField(_("checked in at"), auto_now_add=True)

    class Meta:
        verbose_name = _("check-in")
        verbose_name_plural = _("check-ins")
        constraints = [
            models.UniqueConstraint(fields=["user", "day"], name="checkin_once_per_user_day"),
            models.CheckConstraint(condition=Q(streak__gt=0), name="checkin_streak_positive"),
        ]
        ordering = ["-day"]

    def __str__(self):
        return f"{self.user} {self.day} ({self.streak})"
