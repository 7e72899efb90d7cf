"""The demo store's page logic: the session cart, the packet picker at checkout, and what the pages display.

Reads only, plus the session. The order itself is written by `packets.services.order_create`, the same service the
merchant API calls; the picker asks `services.packet_verdict`, the same function redemption uses, so what the
page offers is exactly what the order path will accept.
"""

import hashlib
import math
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import formats, timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from accounts.models import Merchant, User
from campaigns.rules import CartLine
from common.money import POINTS, ZERO, format_cny, from_minor, to_minor
from rebates.models import AccountKind, LedgerAccount, OutboxEvent, Rebate
from rebates.outbox import TOPIC_REDEMPTION_REBATES

from .models import Order, Packet, PacketNotIssued, Product, Redemption
from .services import LineInput, packet_verdict

CART_SESSION_KEY = "store_cart"  # {"<product id>": quantity}
TOKENS_SESSION_KEY = "store_checkout_tokens"  # {"<uuid>": cart signature at the time the page was shown}
MAX_QUANTITY = 99
MAX_TOKENS = 20  # open checkout pages remembered per session (several tabs); the oldest is forgotten first
ORDER_NO_PREFIX = "WEB-"

# Category codes of the seed's campaigns, shown in the shopper's language; any other code is shown as typed.
CATEGORY_LABELS = {
    "fruit": _("Fruit"),
    "fresh": _("Fresh food"),
    "books": _("Books"),
    "study": _("Study materials"),
    "sports": _("Sports gear"),
    "health": _("Health food"),
    "baby": _("Mother & baby"),
    "daily": _("Daily goods"),
    "digital": _("Digital"),
    "games": _("Games"),
}


def category_label(code: str) -> str:
    return str(CATEGORY_LABELS.get(code, code))


def categories_text(codes: list[str]) -> str:
    """What a packet can be spent on: "全场通用" when it has no category limit."""
    if not codes:
        return str(_("Storewide"))
    return " · ".join(category_label(c) for c in codes)


def min_spend_text(amount: Decimal) -> str:
    if amount <= 0:
        return str(_("No minimum spend"))
    return str(_("Min. spend %(amount)s")) % {"amount": format_cny(amount)}


def points_text(points) -> str:
    n = int(points)
    return ngettext("%(count)s point", "%(count)s points", n) % {"count": f"{n:,}"}


def local_datetime(value: datetime) -> str:
    return formats.date_format(timezone.localtime(value), "Y-m-d H:i")


def time_left_text(expires_at: datetime, now: datetime) -> str:
    """ "3 days 5 hours left" / "4 hours 20 minutes left"; empty when already past."""
    left = expires_at - now
    if left <= timedelta(0):
        return ""
    days, rest = divmod(int(left.total_seconds()), 86400)
    hours, minutes = rest // 3600, rest % 3600 // 60

    def d(n):
        return ngettext("%(count)d day", "%(count)d days", n) % {"count": n}

    def h(n):
        return ngettext("%(count)d hour", "%(count)d hours", n) % {"count": n}

    def m(n):
        return ngettext("%(count)d minute", "%(count)d minutes", n) % {"count": n}

    parts = [d(days), h(hours)] if days else [h(hours), m(minutes)] if hours else [m(max(1, minutes))]
    return str(_("%(time)s left")) % {"time": " ".join(parts)}


# --- products ------------------------------------------------------------------------------------------------------


def products_on_sale() -> QuerySet[Product]:
    """What the store shows: active products of verified merchants."""
    return Product.objects.filter(active=True, merchant__is_verified=True).select_related("merchant")


# Products for `make run`'s demo data, by merchant name: (sku, name, category, price, emoji).
DEMO_PRODUCTS = {
    "鲜果坊": [
        ("FR-MANGO", "海南贵妃芒 2.5kg", "fruit", "59.90", "🥭"),
        ("FR-CHERRY", "智利车厘子 1kg", "fruit", "129.00", "🍒"),
        ("FR-APPLE", "烟台红富士 5kg", "fruit", "45.00", "🍎"),
        ("FR-JUICE", "鲜榨橙汁 1L", "fresh", "18.50", "🧃"),
        ("HL-NUTS", "每日坚果 30袋", "health", "89.00", "🥜"),
    ],
}


def demo_products_load(merchant: Merchant) -> int:
    """Put the demo products of `merchant` on sale; found-or-created by SKU, so running it again changes nothing.
    Returns how many were created. For the demo-data command; the store itself never writes products."""
    created = 0
    for sku, name, category, price, emoji in DEMO_PRODUCTS.get(merchant.name, []):
        _, new = Product.objects.get_or_create(
            merchant=merchant,
            sku=sku,
            defaults={"name": name, "category": category, "price": Decimal(price), "emoji": emoji},
        )
        created += new
    return created


# --- the session cart ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CartItem:
    product: Product
    quantity: int

    @property
    def total(self) -> Decimal:
        return self.product.price * self.quantity

    @property
    def total_display(self) -> str:
        return format_cny(self.total)

    @property
    def price_display(self) -> str:
        return format_cny(self.product.price)

    @property
    def category_display(self) -> str:
        return category_label(self.product.category)


@dataclass(frozen=True)
class Cart:
    items: tuple[CartItem, ...] = ()
    dropped: int = 0  # lines that were in the session but are no longer on sale

    @property
    def is_empty(self) -> bool:
        return not self.items

    @property
    def count(self) -> int:
        return sum(item.quantity for item in self.items)

    @property
    def total(self) -> Decimal:
        return sum((item.total for item in self.items), ZERO)

    @property
    def total_display(self) -> str:
        return format_cny(self.total)

    @property
    def merchants(self) -> list[Merchant]:
        seen: dict[int, Merchant] = {}
        for item in self.items:
            seen.setdefault(item.product.merchant_id, item.product.merchant)
        return list(seen.values())

    @property
    def merchant(self) -> Merchant | None:
        """The one merchant of the cart; None when it is empty or mixes shops (an order belongs to one merchant)."""
        merchants = self.merchants
        return merchants[0] if len(merchants) == 1 else None

    @property
    def signature(self) -> str:
        """Changes when a line, a quantity or a price changes: a checkout page shown for another cart is stale."""
        raw = "|".join(f"{i.product.pk}:{i.quantity}:{i.product.price}" for i in sorted_items(self.items))
        return hashlib.sha256(raw.encode()).hexdigest()[:20]

    def line_inputs(self) -> list[LineInput]:
        return [
            LineInput(
                sku=i.product.sku,
                name=i.product.name,
                category=i.product.category,
                quantity=i.quantity,
                unit_price=i.product.price,
            )
            for i in self.items
        ]

    def rule_lines(self) -> list[CartLine]:
        return [CartLine(i.product.category, i.quantity, i.product.price) for i in self.items]


def sorted_items(items) -> list[CartItem]:
    """Shop by shop, then in the order products were created: the cart page groups lines by merchant."""
    return sorted(items, key=lambda i: (i.product.merchant_id, i.product.pk))


def _raw_cart(session) -> dict[str, int]:
    raw = session.get(CART_SESSION_KEY)
    if not isinstance(raw, dict):
        return {}
    clean = {}
    for key, value in raw.items():
        if str(key).isdigit() and isinstance(value, int) and 0 < value <= MAX_QUANTITY:
            clean[str(key)] = value
    return clean


def cart_read(session) -> Cart:
    raw = _raw_cart(session)
    if not raw:
        return Cart()
    products = {p.pk: p for p in products_on_sale().filter(pk__in=[int(k) for k in raw])}
    items = tuple(CartItem(products[int(k)], q) for k, q in raw.items() if int(k) in products)
    dropped = len(raw) - len(items)
    if dropped:
        session[CART_SESSION_KEY] = {str(i.product.pk): i.quantity for i in items}
    return Cart(items=tuple(sorted_items(items)), dropped=dropped)


def cart_add(session, *, product: Product, quantity: int) -> int:
    """Add to a line (capped at MAX_QUANTITY); returns the line's new quantity."""
    raw = _raw_cart(session)
    new = min(MAX_QUANTITY, raw.get(str(product.pk), 0) + quantity)
    raw[str(product.pk)] = new
    session[CART_SESSION_KEY] = raw
    return new


def cart_set(session, *, product_id: int, quantity: int) -> None:
    raw = _raw_cart(session)
    if quantity <= 0:
        raw.pop(str(product_id), None)
    else:
        raw[str(product_id)] = min(MAX_QUANTITY, quantity)
    session[CART_SESSION_KEY] = raw


def cart_clear(session) -> None:
    session.pop(CART_SESSION_KEY, None)


# --- one-time checkout tokens --------------------------------------------------------------------------------------


def checkout_token_issue(session, cart: Cart) -> str:
    """A new token for one checkout page, bound to the cart it shows. The order number is derived from it."""
    tokens = dict(session.get(TOKENS_SESSION_KEY) or {})
    token = str(uuid.uuid4())
    tokens[token] = cart.signature
    session[TOKENS_SESSION_KEY] = dict(list(tokens.items())[-MAX_TOKENS:])
    return token


def checkout_token_signature(session, token: uuid.UUID) -> str | None:
    """The cart signature the token was issued for, or None when this session never issued it."""
    return (session.get(TOKENS_SESSION_KEY) or {}).get(str(token))


def checkout_token_spend(session, token: uuid.UUID) -> None:
    tokens = dict(session.get(TOKENS_SESSION_KEY) or {})
    tokens.pop(str(token), None)
    session[TOKENS_SESSION_KEY] = tokens


def order_no_for(token: uuid.UUID) -> str:
    """Same token → same order number, so a repeated submit hits OrderNumberTaken instead of a second order."""
    return f"{ORDER_NO_PREFIX}{token.hex.upper()}"


# --- the packet picker ---------------------------------------------------------------------------------------------

# Every ApplicationError code the order path can raise, in the shopper's language.
ERROR_MESSAGES = {
    "packet_not_found": _("We could not find that red packet in your account."),
    "packet_used": _("This red packet has already been used."),
    "packet_expired": _("This red packet has expired."),
    "packet_revoked": _("This red packet has been revoked."),
    "packet_min_spend_not_met": _("Your cart does not reach this red packet's minimum spend."),
    "packet_category_not_allowed": _("Nothing in your cart is in this red packet's categories."),
    "campaign_not_active": _("This red packet's campaign is not running right now."),
    "packet_not_accepted_here": _("This red packet can only be used at the shop whose campaign issued it."),
    "budget_exhausted": _(
        "The campaign's budget is used up for now, so this red packet cannot be used. Pay without it or try later."
    ),
    "order_no_lines": _("Your cart is empty."),
    "invalid_quantity": _("A quantity in your cart is not valid. Please review your cart."),
    "invalid_price": _("A price in your cart is not valid. Please review your cart."),
    "gross_amount_mismatch": _("The order total did not add up. Please review your cart and try again."),
    "invalid_amount": _("The order total must be more than ¥0.00."),
    "amount_too_large": _("The order total is above the limit for one order."),
    "order_no_exists": _("This order has already been placed."),
    "invalid_points": _("Points are used as a whole number, in steps worth ¥0.01."),
    "points_exceed_amount": _("These points are worth more than is left to pay on this order."),
    "insufficient_points": _("You no longer have that many points. Please check your balance and try again."),
    "points_unavailable": _("Points cannot be used right now. Please pay without them or try again later."),
}
# Errors about the chosen packet are shown next to the packet picker; the rest at the top of the form.
PACKET_ERROR_CODES = {
    "packet_not_found",
    "packet_used",
    "packet_expired",
    "packet_revoked",
    "packet_issued",
    "packet_min_spend_not_met",
    "packet_category_not_allowed",
    "campaign_not_active",
    "packet_not_accepted_here",
    "budget_exhausted",
}
# Errors about the points are shown next to the points field.
POINTS_ERROR_CODES = {"invalid_points", "points_exceed_amount", "insufficient_points", "points_unavailable"}


def error_message(code: str) -> str:
    if code in ERROR_MESSAGES:
        return str(ERROR_MESSAGES[code])
    return str(_("We could not place your order (%(code)s). Please try again.")) % {"code": code}


@dataclass(frozen=True)
class PacketOption:
    packet: Packet
    ok: bool
    code: str
    reason: str
    discount: Decimal
    view: "PacketView" = field(repr=False, default=None)
    points: "PointsOffer | None" = field(repr=False, default=None)  # what points can still pay with this packet

    @property
    def discount_display(self) -> str:
        return format_cny(self.discount)

    @property
    def discount_fen(self) -> int:
        return to_minor(self.discount)


def _eligible(packet: Packet, category: str) -> bool:
    return (not packet.categories or category in packet.categories) and category not in packet.denied_categories


def _reason(code: str, packet: Packet, cart: Cart) -> str:
    """Why this packet cannot pay for this cart, with the numbers the shopper needs."""
    if code == "packet_min_spend_not_met":
        eligible = sum((i.total for i in cart.items if _eligible(packet, i.product.category)), ZERO)
        return str(_("Needs %(min)s on eligible items; your cart has %(have)s.")) % {
            "min": format_cny(packet.min_spend),
            "have": format_cny(eligible),
        }
    if code == "packet_category_not_allowed":
        if not packet.categories:
            return str(_("Not valid on %(categories)s, and your cart has nothing else.")) % {
                "categories": " · ".join(category_label(c) for c in packet.denied_categories)
            }
        return str(_("Only for %(categories)s; nothing in your cart qualifies.")) % {
            "categories": categories_text(packet.categories)
        }
    if code == "packet_expired":
        return str(_("Expired on %(date)s.")) % {"date": local_datetime(packet.expires_at)}
    return error_message(code)


def checkout_packets(user: User, *, now: datetime) -> QuerySet[Packet]:
    """The shopper's packets worth listing at checkout: the valid ones, and those that expired in the last week."""
    return (
        Packet.objects.filter(holder=user)
        .filter(
            Q(status=Packet.Status.ISSUED) | Q(status=Packet.Status.EXPIRED, expires_at__gte=now - timedelta(days=7))
        )
        .select_related("campaign")
        .order_by("expires_at", "pk")
    )


def packet_options(user: User, cart: Cart, *, now: datetime | None = None) -> list[PacketOption]:
    """Every listed packet with the verdict of `check_packet` for this cart at its shop: usable ones first, best
    discount first. Packets this shop does not accept (another merchant's campaign) are not offered at all."""
    now = now or timezone.now()
    lines = cart.rule_lines()
    options = []
    for packet in checkout_packets(user, now=now):
        verdict = packet_verdict(packet, lines, now, merchant_id=cart.merchant.pk)
        if verdict.code == "packet_not_accepted_here":
            continue
        options.append(
            PacketOption(
                packet=packet,
                ok=verdict.ok,
                code=verdict.code,
                reason="" if verdict.ok else _reason(verdict.code, packet, cart),
                discount=verdict.discount,
                view=PacketView(packet, now),
            )
        )
    options.sort(key=lambda o: (not o.ok, -o.discount, o.packet.expires_at, o.packet.pk))
    return options


def best_option(options: list[PacketOption]) -> PacketOption | None:
    return next((o for o in options if o.ok), None)


# --- paying with points -------------------------------------------------------------------------------------------
# settings.POINTS_PER_CNY points are worth ¥1. The order service (`services._points_value`) is the authority; this
# checks the shopper's input first so the page can say what is wrong, with the numbers, next to the field.


def points_balance(user: User) -> int:
    """The shopper's spendable points (pending points are not spendable yet)."""
    balance = (
        LedgerAccount.objects.filter(kind=AccountKind.SHOPPER_POINTS, currency=POINTS, user=user)
        .values_list("stored_balance", flat=True)
        .first()
    )
    return int(balance or 0)


def points_step() -> int:
    """The fewest points worth a whole number of fen: 1 when 100 points are ¥1, 3 when 300 are."""
    return settings.POINTS_PER_CNY // math.gcd(settings.POINTS_PER_CNY, 100)


def points_worth(points: int) -> Decimal:
    """What `points` pay for, to the fen (rounded down: a part of a fen buys nothing)."""
    return from_minor(points * 100 // settings.POINTS_PER_CNY)


def points_usable(balance: int, payable: Decimal) -> int:
    """The most points one order can take: no more than the shopper has, nor than is left to pay, in whole steps."""
    most = min(balance, max(0, to_minor(payable)) * settings.POINTS_PER_CNY // 100)
    return most - most % points_step()


@dataclass(frozen=True)
class PointsOffer:
    """What the checkout page says about points: how many the shopper has, what they are worth, how many fit."""

    balance: int
    usable: int

    @property
    def step(self) -> int:
        return points_step()

    @property
    def per_cny(self) -> int:
        return settings.POINTS_PER_CNY

    @property
    def balance_display(self) -> str:
        return points_text(self.balance)

    @property
    def worth_display(self) -> str:
        return format_cny(points_worth(self.balance))

    @property
    def usable_display(self) -> str:
        return points_text(self.usable)

    @property
    def usable_worth_display(self) -> str:
        return format_cny(points_worth(self.usable))

    @property
    def usable_text(self) -> str:
        return str(_("Up to %(most)s (%(worth)s) on this order.")) % {
            "most": self.usable_display,
            "worth": self.usable_worth_display,
        }

    @property
    def rate_display(self) -> str:
        return str(_("%(points)s = ¥1.00")) % {"points": points_text(settings.POINTS_PER_CNY)}


class PointsInputError(ValueError):
    """The points typed at checkout cannot be used; the message is for the shopper, in their language."""


MAX_POINTS_DIGITS = 12


def points_parse(raw: str, *, balance: int, payable: Decimal) -> int:
    """The points typed at checkout as a number of points, or PointsInputError saying why they cannot be used.

    Empty means none. Full-width digits (from a Chinese keyboard), spaces and thousands separators are accepted;
    anything else — a sign, a decimal point, letters — is refused, never rounded or guessed at."""
    text = unicodedata.normalize("NFKC", raw or "").strip().replace(",", "").replace(" ", "")
    if not text:
        return 0
    if not text.isascii() or not text.isdigit():
        raise PointsInputError(str(_("Enter the points as a whole number, like 300.")))
    points = int(text) if len(text) <= MAX_POINTS_DIGITS else balance + 1  # more than anyone has
    if points > balance:
        raise PointsInputError(str(_("You have only %(balance)s.")) % {"balance": points_text(balance)})
    if points % points_step():
        raise PointsInputError(
            str(_("Points are used in steps of %(step)s, each worth ¥0.01.")) % {"step": points_text(points_step())}
        )
    if points_worth(points) > payable:
        raise PointsInputError(
            str(_("That is more than the %(pay)s left to pay. Use at most %(most)s on this order."))
            % {"pay": format_cny(payable), "most": points_text(points_usable(balance, payable))}
        )
    return points


# --- what the pages show -------------------------------------------------------------------------------------------


class PacketView:
    """A packet as the shopper reads it."""

    def __init__(self, packet: Packet, now: datetime):
        self.packet = packet
        self.now = now

    @property
    def amount_display(self) -> str:
        return format_cny(self.packet.amount)

    @property
    def min_spend_display(self) -> str:
        return min_spend_text(self.packet.min_spend)

    @property
    def categories_display(self) -> str:
        text = categories_text(self.packet.categories)
        if self.packet.denied_categories:
            excluded = " · ".join(category_label(c) for c in self.packet.denied_categories)
            text = str(_("%(categories)s, except %(excluded)s")) % {"categories": text, "excluded": excluded}
        return text

    @property
    def expired(self) -> bool:
        return self.packet.status == Packet.Status.EXPIRED or (
            self.packet.status == Packet.Status.ISSUED and self.packet.expires_at <= self.now
        )

    @property
    def time_left(self) -> str:
        return "" if self.expired else time_left_text(self.packet.expires_at, self.now)

    @property
    def expiring_soon(self) -> bool:
        return not self.expired and self.packet.expires_at - self.now < timedelta(days=3)


PACKET_TABS = ("valid", "used", "expired")


def packets_in_tab(user: User, tab: str, *, now: datetime) -> QuerySet[Packet]:
    """My packets by tab. A packet past its date counts as expired even before the expiry job has run."""
    qs = Packet.objects.filter(holder=user).select_related("campaign")
    if tab == "used":
        return qs.filter(status=Packet.Status.USED).select_related("redemption").order_by("-used_at", "-pk")
    if tab == "expired":
        return qs.filter(
            Q(status__in=[Packet.Status.EXPIRED, Packet.Status.REVOKED])
            | Q(status=Packet.Status.ISSUED, expires_at__lte=now)
        ).order_by("-expires_at", "-pk")
    return qs.filter(status=Packet.Status.ISSUED, expires_at__gt=now).order_by("expires_at", "pk")


def packet_tab_counts(user: User, *, now: datetime) -> dict[str, int]:
    return {tab: packets_in_tab(user, tab, now=now).count() for tab in PACKET_TABS}


def rebate_label(rebate: Rebate, order: Order) -> str:
    """Whose rebate it is, as the order's shopper reads it."""
    if rebate.beneficiary_user_id == order.shopper_id:
        return gettext("Your rebate")
    if rebate.beneficiary_merchant_id:
        return gettext("The merchant's rebate")
    if rebate.role == "issuer":
        return gettext("The sender's rebate")  # person → person: whoever sent the packet
    return rebate.get_role_display()


def rebate_amount_text(rebate: Rebate) -> str:
    return points_text(rebate.amount) if rebate.currency == "POINTS" else format_cny(rebate.amount)


def pending_redemptions(user: User) -> QuerySet[Redemption]:
    """The shopper's redemptions whose rebates the worker has not credited yet ("being computed")."""
    not_done = OutboxEvent.objects.filter(topic=TOPIC_REDEMPTION_REBATES, ref_id=OuterRef("pk"), done_at__isnull=True)
    return (
        Redemption.objects.filter(order__shopper=user)
        .filter(Exists(not_done))
        .exclude(Exists(Rebate.objects.filter(redemption=OuterRef("pk"))))
        .order_by("-used_at", "-pk")
    )


def order_for_shopper(user: User, order_id: int) -> Order | None:
    """The shopper's own order with what its page shows; None for anyone else's (the page answers 404)."""
    return (
        Order.objects.filter(shopper=user, pk=order_id)
        .select_related("packet__campaign", "merchant")
        .prefetch_related(
            "lines",
            Prefetch("earned_packets", queryset=Packet.objects.select_related("campaign").order_by("pk")),
            Prefetch("not_issued", queryset=PacketNotIssued.objects.select_related("campaign").order_by("pk")),
            Prefetch("redemption__rebates", queryset=Rebate.objects.order_by("role")),
        )
        .first()
    )
