from django import forms
from django.utils.translation import gettext_lazy as _

from .store import MAX_QUANTITY, products_on_sale


class AddToCartForm(forms.Form):
    product = forms.ModelChoiceField(
        queryset=products_on_sale(),
        widget=forms.HiddenInput,
        error_messages={"invalid_choice": _("This product is no longer on sale.")},
    )
    quantity = forms.IntegerField(
        label=_("Quantity"),
        min_value=1,
        max_value=MAX_QUANTITY,
        initial=1,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "class": "qty"}),
    )


class CartUpdateForm(forms.Form):
    """Set a line's quantity; 0 removes the line."""

    product = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    quantity = forms.IntegerField(
        label=_("Quantity"),
        min_value=0,
        max_value=MAX_QUANTITY,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "class": "qty"}),
    )


class CheckoutForm(forms.Form):
    """The one-time token (the order number is derived from it), the chosen packet's code and the points to pay with.

    The packet is a free code on purpose: whatever arrives, the order service decides whether this shopper may spend
    it, and a code that is not theirs is answered like a missing one. The points arrive as typed: the view checks them
    against the shopper's balance and what is left to pay (`store.points_parse`) and says what is wrong next to them."""

    token = forms.UUIDField(widget=forms.HiddenInput)
    packet = forms.CharField(label=_("Red packet"), required=False, max_length=40)
    points = forms.CharField(label=_("Points to use"), required=False, strip=True)
