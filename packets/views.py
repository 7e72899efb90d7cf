"""Shopper pages: the demo store, its cart and checkout, the order result page and "my packets". Thin: the cart and
the picker live in `store.py`, every write of an order goes through `services.order_create`."""

from dataclasses import replace
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import IntegrityError
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from antifraud.context import page_context
from antifraud.models import TrailEvent
from antifraud.trail import page_step
from common.errors import ApplicationError
from common.money import format_cny, to_minor

from . import services, store
from .errors import not_issued_message
from .forms import AddToCartForm, CartUpdateForm, CheckoutForm
from .models import Order
from .selectors import order_rebates

STORE_CSS = "css/store.css"


def _safe_next(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return default


# --- store and cart ------------------------------------------------------------------------------------------------


@require_GET
def store_index(request):
    page_step(request, TrailEvent.Kind.BROWSE)  # the shopping trail anti-fraud reads (antifraud/trail.py)
    return _render_store(request)


def _render_store(request, *, bound: AddToCartForm | None = None, bound_product_id: int | None = None, status=200):
    category = request.GET.get("category", "")
    on_sale = store.products_on_sale().order_by("merchant__name", "merchant_id", "category", "name", "pk")
    categories = [
        {"code": code, "label": store.category_label(code)}
        for code in sorted(set(on_sale.values_list("category", flat=True)))
    ]
    products = on_sale.filter(category=category) if category else on_sale
    cards = []
    for product in products:
        if bound is not None and product.pk == bound_product_id:
            form = bound
        else:
            form = AddToCartForm(initial={"product": product.pk}, auto_id=f"id_%s_{product.pk}")
        cards.append(
            {
                "product": product,
                "form": form,
                "price": format_cny(product.price),
                "category": store.category_label(product.category),
            }
        )
    context = {"cards": cards, "categories": categories, "category": category, "cart": store.cart_read(request.session)}
    return render(request, "packets/store.html", context, status=status)


@require_POST
def cart_add(request):
    form = AddToCartForm(request.POST, auto_id=f"id_%s_{request.POST.get('product', '')}")
    if not form.is_valid():
        if "product" in form.errors:
            messages.error(request, form.errors["product"][0])
            return redirect("packets:store")
        product_id = int(request.POST["product"])
        return _render_store(request, bound=form, bound_product_id=product_id, status=400)
    product, quantity = form.cleaned_data["product"], form.cleaned_data["quantity"]
    total = store.cart_add(request.session, product=product, quantity=quantity)
    page_step(request, TrailEvent.Kind.ADD_TO_CART, sku=product.sku)
    messages.success(
        request, _("Added to your cart: %(name)s (now %(count)d).") % {"name": product.name, "count": total}
    )
    return redirect(_safe_next(request, reverse("packets:store")))


@require_GET
def cart_view(request):
    return _render_cart(request)


def _render_cart(request, *, bound: CartUpdateForm | None = None, bound_product_id: int | None = None, status=200):
    cart = store.cart_read(request.session)
    lines = []
    for item in cart.items:
        if bound is not None and item.product.pk == bound_product_id:
            form = bound
        else:
            form = CartUpdateForm(
                initial={"product": item.product.pk, "quantity": item.quantity}, auto_id=f"id_%s_{item.product.pk}"
            )
        lines.append({"item": item, "form": form})
    if cart.dropped:
        messages.warning(request, _("Some items are no longer on sale and were removed from your cart."))
    return render(request, "packets/cart.html", {"cart": cart, "lines": lines}, status=status)


@require_POST
def cart_update(request):
    form = CartUpdateForm(request.POST, auto_id=f"id_%s_{request.POST.get('product', '')}")
    if not form.is_valid():
        if "product" in form.errors:
            return redirect("packets:cart")
        return _render_cart(request, bound=form, bound_product_id=form.cleaned_data["product"], status=400)
    quantity = form.cleaned_data["quantity"]
    store.cart_set(request.session, product_id=form.cleaned_data["product"], quantity=quantity)
    messages.success(request, _("Removed from your cart.") if quantity == 0 else _("Your cart was updated."))
    return redirect("packets:cart")


# --- checkout ------------------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def checkout(request):
    if request.method == "GET":
        cart = store.cart_read(request.session)
        if cart.is_empty:
            messages.info(request, _("Your cart is empty. Add something from the store first."))
            return redirect("packets:cart")
        page_step(request, TrailEvent.Kind.CHECKOUT)
        return _render_checkout(request, cart)

    form = CheckoutForm(request.POST)
    if not form.is_valid():
        cart = store.cart_read(request.session)
        if cart.is_empty:
            return redirect("packets:cart")
        return _render_checkout(
            request, cart, alert=_("This checkout page has expired. Please check your order and submit again.")
        )
    token = form.cleaned_data["token"]
    order_no = store.order_no_for(token)
    # Back button, refresh or a second tap after the order went through: the token already made an order.
    existing = Order.objects.filter(shopper=request.user, order_no=order_no).first()
    if existing:
        return _already_placed(request, existing)

    cart = store.cart_read(request.session)
    if cart.is_empty:
        messages.info(request, _("Your cart is empty. Add something from the store first."))
        return redirect("packets:cart")
    if store.checkout_token_signature(request.session, token) is None:
        return _render_checkout(
            request, cart, alert=_("This checkout page has expired. Please check your order and submit again.")
        )
    if cart.merchant is None:
        return _render_checkout(request, cart)  # the page explains the one-shop rule; nothing to submit
    if store.checkout_token_signature(request.session, token) != cart.signature:
        return _render_checkout(
            request, cart, alert=_("Your cart changed after this page was opened. Please check it and submit again.")
        )

    packet_code = form.cleaned_data["packet"].strip() or None
    points_raw = form.cleaned_data["points"]
    options = store.packet_options(request.user, cart)
    payable = cart.total - _chosen_discount(options, packet_code or "")
    try:
        points = store.points_parse(points_raw, balance=store.points_balance(request.user), payable=payable)
    except store.PointsInputError as exc:
        return _render_checkout(
            request,
            cart,
            options=options,
            chosen=packet_code or "",
            token=str(token),
            points_raw=points_raw,
            points_error=str(exc),
            status=400,
        )
    context = page_context(request, request.user)
    try:
        order = services.order_create(
            merchant=cart.merchant,
            shopper=request.user,
            order_no=order_no,
            lines=cart.line_inputs(),
            gross_amount=cart.total,
            packet_code=packet_code,
            channel=Order.Channel.STORE,
            ip=context.ip,
            device_fingerprint=context.device.fingerprint if context.device else None,
            trail_keys=context.trail_keys,
            # No delivery address in the demo store: the order is placed where the shopper's profile says they live.
            province=request.user.province,
            city=request.user.city,
            points=points,
        )
    except (ApplicationError, IntegrityError) as exc:
        if isinstance(exc, ApplicationError):
            exc.after_rollback()
        # A concurrent duplicate of this very submit may have won the race (it took the packet or the number).
        existing = Order.objects.filter(shopper=request.user, order_no=order_no).first()
        if existing:
            return _already_placed(request, existing)
        if isinstance(exc, IntegrityError):
            raise
        return _render_checkout(
            request, cart, error=exc, chosen=packet_code or "", token=str(token), points_raw=points_raw, status=400
        )

    store.checkout_token_spend(request.session, token)
    store.cart_clear(request.session)
    messages.success(request, _("Order %(number)s placed.") % {"number": order.order_no})
    return redirect("packets:order", order_id=order.pk)


def _already_placed(request, order: Order):
    store.cart_clear(request.session)
    messages.info(request, _("This order was already placed — here it is. You were not charged twice."))
    return redirect("packets:order", order_id=order.pk)


def _chosen_discount(options: list, chosen: str) -> Decimal:
    option = next((o for o in options if o.ok and o.packet.code == chosen), None)
    return option.discount if option else Decimal("0.00")


def _render_checkout(
    request,
    cart,
    *,
    alert: str = "",
    error: ApplicationError | None = None,
    options: list | None = None,
    chosen: str | None = None,
    token: str | None = None,
    points_raw: str = "",
    points_error: str = "",
    status: int = 200,
):
    now = timezone.now()
    if options is None:
        options = store.packet_options(request.user, cart, now=now) if cart.merchant else []
    if chosen is None:
        best = store.best_option(options)
        chosen = best.packet.code if best else ""
    token = token or store.checkout_token_issue(request.session, cart)
    form = CheckoutForm(initial={"token": token, "packet": chosen})
    packet_error = form_error = ""
    if error is not None:
        message = store.error_message(error.code)
        if error.code in store.PACKET_ERROR_CODES:
            packet_error = message
        elif error.code in store.POINTS_ERROR_CODES:
            points_error = message
        else:
            form_error = message
    discount = _chosen_discount(options, chosen)
    balance = store.points_balance(request.user)

    def offer(packet_discount: Decimal) -> store.PointsOffer:
        return store.PointsOffer(balance=balance, usable=store.points_usable(balance, cart.total - packet_discount))

    points_offer = offer(discount)
    options = [replace(o, points=offer(o.discount if o.ok else Decimal("0.00"))) for o in options]
    try:  # the preview counts the typed points only when the order would accept them
        points = store.points_parse(points_raw, balance=balance, payable=cart.total - discount)
    except store.PointsInputError:
        points = 0
    points_discount = store.points_worth(points)
    context = {
        "cart": cart,
        "form": form,
        "gross_fen": to_minor(cart.total),
        "discount_display": format_cny(discount),
        "points_offer": points_offer,
        "points_offer_none": offer(Decimal("0.00")),
        "points_raw": points_raw,
        "points_error": points_error,
        "points_discount_display": format_cny(points_discount),
        "pay_display": format_cny(cart.total - discount - points_discount),
        "token": token,
        "options": options,
        "chosen": chosen,
        "chosen_is_listed": any(o.packet.code == chosen for o in options),
        "usable_count": sum(1 for o in options if o.ok),
        "alert": alert,
        "packet_error": packet_error,
        "form_error": form_error,
    }
    if status == 200 and (alert or packet_error or form_error or points_error):
        status = 409 if alert else 400
    return render(request, "packets/checkout.html", context, status=status)


# --- the order result page -----------------------------------------------------------------------------------------


def _rebate_context(order: Order) -> dict:
    state, order_rebate_rows = order_rebates(order)
    rebates = []
    for rebate in order_rebate_rows:
        rebates.append(
            {
                "role": rebate.role,
                "label": store.rebate_label(rebate, order),
                "amount": str(rebate.amount),
                "currency": rebate.currency,
                "display": store.rebate_amount_text(rebate),
                "form": rebate.form,
                "form_label": rebate.get_form_display(),
            }
        )
    return {"order": order, "state": state, "rebates": rebates}


@login_required
@require_GET
def order_detail(request, order_id: int):
    order = store.order_for_shopper(request.user, order_id)
    if order is None:
        raise Http404
    now = timezone.now()
    lines = [
        {
            "line": line,
            "category": store.category_label(line.category),
            "price": format_cny(line.unit_price),
            "total": format_cny(line.line_total),
        }
        for line in order.lines.all()
    ]
    context = {
        **_rebate_context(order),
        "lines": lines,
        "gross": format_cny(order.gross_amount),
        "discount": format_cny(order.discount),
        "points_used": store.points_text(order.points_used) if order.points_used else "",
        "points_discount": format_cny(order.points_discount),
        "paid": format_cny(order.amount_paid),
        "earned": [store.PacketView(p, now) for p in order.earned_packets.all()],
        "not_issued": [
            {"campaign": row.campaign.name, "amount": format_cny(row.amount), "message": not_issued_message(row.code)}
            for row in order.not_issued.all()
        ],
    }
    return render(request, "packets/order_detail.html", context)


@require_GET
def order_status(request, order_id: int):
    """Polled by static/js/order_status.js while the rebates are being computed. 404 for anyone but the shopper."""
    order = store.order_for_shopper(request.user, order_id) if request.user.is_authenticated else None
    if order is None:
        return JsonResponse({"code": "not_found", "message": _("Not found.")}, status=404)
    context = _rebate_context(order)
    html = render_to_string("packets/_order_rebates.html", context, request=request)
    payload = {"state": context["state"], "rebates": context["rebates"], "html": html}
    response = JsonResponse(payload)
    response["Cache-Control"] = "no-store"
    return response


# --- my packets ----------------------------------------------------------------------------------------------------


@login_required
@require_GET
def my_packets(request):
    tab = request.GET.get("tab", "valid")
    if tab not in store.PACKET_TABS:
        tab = "valid"
    now = timezone.now()
    page = Paginator(store.packets_in_tab(request.user, tab, now=now), 20).get_page(request.GET.get("page"))
    counts = store.packet_tab_counts(request.user, now=now)
    labels = {"valid": _("Valid"), "used": _("Used"), "expired": _("Expired")}
    tabs = [{"key": key, "label": labels[key], "count": counts[key]} for key in store.PACKET_TABS]
    context = {"tab": tab, "tabs": tabs, "page": page, "packets": [store.PacketView(p, now) for p in page]}
    return render(request, "packets/my_packets.html", context)
