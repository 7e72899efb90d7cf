"""The wallet page: balances and rebate history, for a shopper (cash, points) or merchant staff (deposit, credit), and
for a shopper the withdraw-to-WeChat form with their withdrawals; the order trace: the timeline of one order, its packet
and its rebates."""

from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from common.errors import ApplicationError
from common.idempotency import run_once
from common.money import format_cny
from packets import store
from packets.models import Order
from packets.selectors import order_rebates

from .models import AccountKind, LedgerTransaction, Rebate
from .payouts import services as payouts
from .payouts import withdrawals
from .payouts.models import Payout
from .selectors import rebates_visible_to, wallet_of


def _balances(wallet: dict) -> list[dict]:
    b = wallet["balances"]
    if wallet["owner"] == "merchant":
        return [
            {
                "key": "marketing_credit",
                "label": _("Marketing credit"),
                "display": format_cny(Decimal(b["marketing_credit"])),
            },
            {
                "key": "marketing_credit_pending",
                "label": _("Marketing credit (pending)"),
                "display": format_cny(Decimal(b["marketing_credit_pending"])),
            },
            {"key": "deposit", "label": _("Deposit"), "display": format_cny(Decimal(b["deposit"]))},
        ]
    rows = [
        {"key": "cash", "label": _("Cash balance"), "display": format_cny(Decimal(b["cash"]))},
        {"key": "points", "label": _("Points"), "display": store.points_text(b["points"])},
        {
            "key": "cash_pending",
            "label": _("Pending cash (not yet spendable)"),
            "display": format_cny(Decimal(b["cash_pending"])),
        },
        {"key": "points_pending", "label": _("Pending points"), "display": store.points_text(b["points_pending"])},
    ]
    if Decimal(b["debt"]) > 0:
        rows.append({"key": "debt", "label": _("Owed from refunded orders"), "display": format_cny(Decimal(b["debt"]))})
    return rows


WALLET_STATES = ("computing", "pending", "credited", "reversed")


def _wallet_filters(request, owner: str) -> tuple[str, str, list[dict]]:
    """The history's filters from the query string (unknown values are ignored) and the chips that set them."""
    forms = [value for value, _label in Rebate.Form.choices]
    form = request.GET.get("form", "")
    form = form if form in forms else ""
    state = request.GET.get("state", "")
    state = state if state in WALLET_STATES else ""
    state_labels = {
        "computing": _("Being calculated"),
        "pending": _("Pending"),
        "credited": _("Credited"),
        "reversed": _("Reversed"),
    }
    states = [s for s in WALLET_STATES if owner == "shopper" or s != "computing"]

    def href(**change) -> str:
        params = {"form": form, "state": state, **change}
        query = urlencode({k: v for k, v in params.items() if v})
        return f"?{query}" if query else "?"

    groups = [
        {
            "label": _("State"),
            "chips": [{"label": _("All"), "href": href(state=""), "current": not state}]
            + [{"label": state_labels[s], "href": href(state=s), "current": state == s} for s in states],
        },
        {
            "label": _("Form"),
            "chips": [{"label": _("All"), "href": href(form=""), "current": not form}]
            + [
                {"label": label, "href": href(form=value), "current": form == value}
                for value, label in Rebate.Form.choices
                if owner == "merchant" or value != Rebate.Form.MARKETING_CREDIT
            ],
        },
    ]
    return form, state, groups


def _state_badge(rebate) -> tuple[str, str]:
    if rebate.status == Rebate.Status.PENDING:
        if rebate.hold_until:
            local = timezone.localtime(rebate.hold_until).strftime("%Y-%m-%d")
            return "warn", _("Pending until %(date)s") % {"date": local}
        return "warn", _("Pending")
    if rebate.status == Rebate.Status.REVERSED:
        return "danger", _("Reversed")
    if rebate.reversed_amount:
        return "warn", _("Partly reversed")
    return "ok", _("Credited")


@login_required
@require_GET
def wallet(request):
    return _render_wallet(request)


def _render_wallet(
    request, *, amount: str | None = None, amount_error: str = "", alert: str = "", token: str = "", status: int = 200
):
    wallet = wallet_of(request.user)
    form, state, filters = _wallet_filters(request, wallet["owner"])
    rebates = rebates_visible_to(request.user).select_related("redemption__order")
    if form:
        rebates = rebates.filter(form=form)
    if state == "computing":
        rebates = rebates.none()
    elif state:
        rebates = rebates.filter(status=state)
    page = Paginator(rebates, 50).get_page(request.GET.get("page"))
    rows = []
    if page.number == 1 and wallet["owner"] == "shopper" and not form and state in ("", "computing"):
        for redemption in store.pending_redemptions(request.user).select_related("order"):
            rows.append(
                {
                    "date": redemption.used_at,
                    "order": redemption.order,
                    "link": True,
                    "role": _("as holder"),
                    "amount": "",
                    "form": "",
                    "credited": False,
                    "badge": ("warn", _("Being calculated")),
                }
            )
    for rebate in page:
        order = rebate.redemption.order
        rows.append(
            {
                "date": rebate.created_at,
                "order": order,
                # The order page is the shopper's own; merchant staff see the number only.
                "link": order.shopper_id == request.user.pk,
                "role": _("as holder") if rebate.role == "holder" else _("as issuer"),
                "amount": store.rebate_amount_text(rebate),
                "form": rebate.get_form_display(),
                "credited": rebate.status == Rebate.Status.CREDITED,
                "badge": _state_badge(rebate),
            }
        )
    query = urlencode({k: v for k, v in {"form": form, "state": state}.items() if v})
    context = {
        "wallet": wallet,
        "balances": _balances(wallet),
        "rows": rows,
        "page": page,
        "filters": filters,
        "filtered": bool(form or state),
        "query": f"&{query}" if query else "",
        "withdraw": _withdraw_context(request, amount=amount, amount_error=amount_error, alert=alert, token=token),
    }
    return render(request, "rebates/wallet.html", context, status=status)


# --- withdraw to WeChat --------------------------------------------------------------------------------------------


def _withdraw_context(request, *, amount: str | None, amount_error: str, alert: str, token: str) -> dict | None:
    offer = withdrawals.withdraw_offer(request.user)
    if offer is None:
        return None
    return {
        "offer": offer,
        "token": token or withdrawals.token_issue(request.session),
        "amount": offer.default_amount if amount is None else amount,
        "amount_error": amount_error,
        "alert": alert,
        "payouts": withdrawals.payout_rows(request.user),
    }


class _PageExpired(Exception):
    pass


@login_required
@require_POST
def wallet_withdraw(request):
    """POST /wallet/withdraw/ — request a payout of the typed amount to WeChat balance (零钱), through the payout
    service the API uses. The form's one-time token is the idempotency key: the same form submitted again — a double
    tap, a second tab, the back button — finds the first payout and makes no other."""
    if withdrawals.withdraw_offer(request.user) is None:
        messages.error(request, withdrawals.service_message("not_a_shopper"))
        return redirect("rebates:wallet")
    token = withdrawals.token_parse(request.POST.get("token"))
    raw = request.POST.get("amount", "")
    expired = _("This page has expired. Please check the amount and submit again.")
    if token is None:
        return _render_wallet(request, amount=raw, alert=expired, status=409)

    def request_payout() -> dict:
        if not withdrawals.token_known(request.session, token):
            raise _PageExpired
        amount = withdrawals.amount_parse(raw, withdrawable=withdrawals.cash_balance(request.user))
        payout = payouts.payout_request(user=request.user, amount=amount, channel=Payout.Channel.WECHAT_BALANCE)
        return {"payout": payout.pk, "amount": str(payout.amount), "out_bill_no": payout.out_bill_no}

    try:
        result, replayed = run_once(
            scope=f"user:{request.user.pk}",
            key=f"wallet-withdraw:{token}",
            fingerprint="POST /wallet/withdraw/",
            action=request_payout,
        )
    except _PageExpired:
        return _render_wallet(request, amount=raw, alert=expired, status=409)
    except withdrawals.AmountError as exc:
        return _render_wallet(request, amount=raw, amount_error=str(exc), token=str(token), status=400)
    except ApplicationError as exc:
        if exc.code == "idempotency_in_progress":  # the first submit of this form is still running
            messages.info(request, _("Your withdrawal is being requested. It appears below in a moment."))
            return redirect(reverse("rebates:wallet") + "#withdrawals")
        message = withdrawals.service_message(exc.code)
        if exc.code in withdrawals.AMOUNT_ERROR_CODES:
            return _render_wallet(request, amount=raw, amount_error=message, token=str(token), status=exc.status_code)
        return _render_wallet(request, amount=raw, alert=message, token=str(token), status=exc.status_code)
    withdrawals.token_spend(request.session, token)
    amount = format_cny(Decimal(result["amount"]))
    if replayed:
        messages.info(
            request,
            _("This withdrawal of %(amount)s was already requested — here it is. Nothing was taken twice.")
            % {"amount": amount},
        )
    else:
        messages.success(
            request,
            _("Withdrawal of %(amount)s to your WeChat balance requested (bill %(bill)s).")
            % {"amount": amount, "bill": result["out_bill_no"]},
        )
    return redirect(reverse("rebates:wallet") + "#withdrawals")


# --- the order trace (customer service: "my cashback has not arrived") --------------------------------------------


def _trace_step(kind: str, at, title: str, detail: str = "", *, state: str = "done", link: str = "") -> dict:
    return {"kind": kind, "at": at, "title": title, "detail": detail, "state": state, "link": link}


def _rebate_steps(rebate, order) -> tuple[list[dict], list[dict]]:
    """One rebate's steps: (computed / credited / pending until the hold ends, its reversal if refunded)."""
    who = store.rebate_label(rebate, order)
    what = {"who": who, "amount": store.rebate_amount_text(rebate), "form": rebate.get_form_display()}
    credited = _("%(who)s credited: %(amount)s") % what
    steps = []
    held = rebate.hold_until is not None or rebate.held_for_review
    if held:
        local = timezone.localtime(rebate.hold_until).strftime("%Y-%m-%d %H:%M") if rebate.hold_until else ""
        detail = (
            _("Held for review before it is paid.")
            if rebate.held_for_review
            else _("Pending until %(date)s (the holding period, e.g. the return window).") % {"date": local}
        )
        steps.append(
            _trace_step("computed", rebate.created_at, _("%(who)s computed: %(amount)s (%(form)s)") % what, detail)
        )
        if rebate.status == "pending":
            steps.append(_trace_step("pending", rebate.hold_until, _("%(who)s to be credited") % what, state="waiting"))
        elif rebate.status == "credited":
            steps.append(_trace_step("credited", rebate.confirmed_at, credited))
    else:  # no holding period: computed and credited in one step
        steps.append(_trace_step("credited", rebate.confirmed_at or rebate.created_at, credited))
    reversals = []
    if rebate.reversed_amount:
        reversal = (
            LedgerTransaction.objects.filter(kind="rebate_reverse", reference=f"rebate:{rebate.pk}")
            .order_by("-created_at")
            .first()
        )
        amount = (
            store.points_text(rebate.reversed_amount)
            if rebate.currency == "POINTS"
            else format_cny(rebate.reversed_amount)
        )
        reversals.append(
            _trace_step(
                "reversed",
                reversal.created_at if reversal else None,
                _("%(who)s reversed: %(amount)s") % {"who": who, "amount": amount},
                _("Taken back because the order was refunded."),
                state="reversed",
            )
        )
    return steps, reversals


@login_required
@require_GET
def order_trace(request, order_id: int):
    """/orders/<id>/trace/ — everything that happened to one of the shopper's own orders, each step with its time, in
    the order the steps happen: ordered → packet spent → rebates reserved → rebates computed and credited (or
    pending until the hold ends) → refunds and reversals → packets earned. Not sorted by time: the steps written in
    one transaction carry clocks a few milliseconds apart. Anyone else's order is a 404."""
    order = (
        Order.objects.filter(pk=order_id, shopper=request.user)
        .select_related("merchant", "packet__campaign__merchant")
        .prefetch_related("refunds", "earned_packets__campaign")
        .first()
    )
    if order is None:
        raise Http404
    steps = [
        _trace_step(
            "ordered",
            order.created_at,
            _("Order placed"),
            _("%(gross)s at %(merchant)s; paid %(paid)s.")
            % {
                "gross": format_cny(order.gross_amount),
                "merchant": order.merchant.name,
                "paid": format_cny(order.amount_paid),
            },
            link=reverse("packets:order", args=[order.pk]),
        )
    ]
    state, rebates = order_rebates(order)
    reversals: list[dict] = []
    redemption = getattr(order, "redemption", None) if order.packet_id else None
    if redemption is not None:
        packet = order.packet
        steps.append(
            _trace_step(
                "packet_spent",
                redemption.used_at,
                _("Red packet spent"),
                _("Packet %(code)s worth %(amount)s took %(discount)s off.")
                % {"code": packet.code, "amount": format_cny(packet.amount), "discount": format_cny(order.discount)},
            )
        )
        reservation = (
            LedgerTransaction.objects.filter(kind="redemption", reference=f"redemption:{redemption.pk}")
            .prefetch_related("entries__account")
            .first()
        )
        if reservation is not None:
            reserved = sum(
                (e.amount for e in reservation.entries.all() if e.account.kind == AccountKind.REBATE_RESERVE),
                Decimal("0.00"),
            )
            steps.append(
                _trace_step(
                    "reserved",
                    reservation.created_at,
                    _("Rebates reserved"),
                    _("%(amount)s set aside from the campaign's budget for the rebates.")
                    % {"amount": format_cny(reserved)}
                    if reserved
                    else _("This campaign's rule pays no rebate on this order."),
                )
            )
        if state == "computing":
            steps.append(
                _trace_step(
                    "computing",
                    None,
                    _("Rebates being calculated"),
                    _("This usually takes a few seconds."),
                    state="waiting",
                )
            )
        elif not rebates:
            steps.append(_trace_step("computed", None, _("No rebate is due on this order.")))
        for rebate in rebates:
            done, undone = _rebate_steps(rebate, order)
            steps.extend(done)
            reversals.extend(undone)
    for refund in order.refunds.all():
        steps.append(
            _trace_step(
                "refund",
                refund.created_at,
                _("Refund of %(amount)s") % {"amount": format_cny(refund.amount)},
                refund.reason,
                state="reversed",
            )
        )
    steps.extend(reversals)
    now = timezone.now()
    for packet in order.earned_packets.all():
        view = store.PacketView(packet, now)
        steps.append(
            _trace_step(
                "earned",
                packet.issued_at,
                _("Red packet earned: %(amount)s") % {"amount": view.amount_display},
                f"{packet.campaign.name} · {view.min_spend_display}",
                link=reverse("packets:my_packets"),
            )
        )
    context = {
        "order": order,
        "steps": steps,
        "state": state,
        "campaigns": [order.packet.campaign] if order.packet_id else [],
    }
    return render(request, "rebates/trace.html", context)
