"""The wallet page: balances and rebate history, for a shopper (cash, points) or merchant staff (deposit, credit)."""

from decimal import Decimal

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from common.money import format_cny
from packets import store

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
            {"key": "deposit", "label": _("Deposit"), "display": format_cny(Decimal(b["deposit"]))},
        ]
    return [
        {"key": "cash", "label": _("Cash balance"), "display": format_cny(Decimal(b["cash"]))},
        {"key": "points", "label": _("Points"), "display": store.points_text(b["points"])},
    ]


@login_required
@require_GET
def wallet(request):
    wallet = wallet_of(request.user)
    page = Paginator(rebates_visible_to(request.user).select_related("redemption__order"), 50).get_page(
        request.GET.get("page")
    )
    rows = []
    if page.number == 1 and wallet["owner"] == "shopper":
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
                "credited": True,
            }
        )
    context = {"wallet": wallet, "balances": _balances(wallet), "rows": rows, "page": page}
    return render(request, "rebates/wallet.html", context)
