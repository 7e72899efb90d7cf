from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Merchant
from common.forms import DateTimeFormField
from common.money import MoneyError, parse_amount

from .rules import CartLine, Event, Region, ShopperFacts


class SimulatorForm(forms.Form):
    """An order typed by a campaign manager, turned into the engine's plain input."""

    lines = forms.CharField(
        label=_("Order lines"),
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "fruit, 1, 50.00"}),
        help_text=_("One line per item: category, quantity, unit price."),
    )
    trigger = forms.ChoiceField(
        label=_("Event"),
        choices=[
            ("purchase", _("purchase")),
            ("registration", _("registration")),
            ("check_in", _("daily check-in")),
            ("share", _("share")),
            ("referral", _("referral")),
            ("manual", _("manual grant")),
        ],
        initial="purchase",
    )
    at = DateTimeFormField(label=_("Time"), required=False, help_text=_("Empty = now."))
    province = forms.CharField(label=_("Province"), required=False, max_length=32)
    city = forms.CharField(label=_("City"), required=False, max_length=32)
    prior_orders = forms.IntegerField(label=_("Shopper's previous orders"), min_value=0, initial=0)
    segments = forms.CharField(label=_("Shopper segments"), required=False, help_text=_("Comma separated."))
    merchant = forms.ModelChoiceField(
        label=_("Order placed at"),
        queryset=Merchant.objects.order_by("name", "pk"),
        required=False,
        help_text=_("Empty = the campaign's own merchant. Another merchant accepts only platform campaigns' packets."),
    )

    def clean_lines(self) -> tuple[CartLine, ...]:
        parsed = []
        for number, raw in enumerate(self.cleaned_data["lines"].splitlines(), start=1):
            if not raw.strip():
                continue
            parts = [p.strip() for p in raw.split(",")]
            try:
                if len(parts) != 3 or not parts[0]:
                    raise ValueError
                quantity = int(parts[1])
                price = parse_amount(parts[2])
                if quantity <= 0 or price <= 0:
                    raise ValueError
            except (ValueError, MoneyError) as exc:
                raise forms.ValidationError(
                    _("Line %(n)d: write category, quantity (a whole number above 0), price (e.g. 12.50).")
                    % {"n": number}
                ) from exc
            parsed.append(CartLine(parts[0], quantity, price))
        if not parsed:
            raise forms.ValidationError(_("Enter at least one line."))
        return tuple(parsed)

    def event(self) -> Event:
        data = self.cleaned_data
        return Event(
            trigger=data["trigger"],
            at=data["at"] or timezone.now(),
            lines=data["lines"],
            region=Region(data["province"], data["city"]),
            merchant_id=data["merchant"].pk if data["merchant"] else None,
            shopper=ShopperFacts(
                prior_orders=data["prior_orders"],
                segments=frozenset(s.strip() for s in data["segments"].split(",") if s.strip()),
                region=Region(data["province"], data["city"]),
            ),
        )
