"""Page forms of lucky money. They only read the typed values; the limits are the send service's (one rule, one
place): its refusals come back to the field they concern (`SEND_ERROR_FIELDS`)."""

import uuid

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .models import LuckyGroup, LuckyPacket


class GroupCreateForm(forms.Form):
    name = forms.CharField(
        label=_("Group name"),
        max_length=LuckyGroup._meta.get_field("name").max_length,
        help_text=_("Family, friends, a class…"),
    )


class SendForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Kind"),
        choices=LuckyPacket.Kind.choices,
        initial=LuckyPacket.Kind.RANDOM,
        widget=forms.RadioSelect,
    )
    total = forms.DecimalField(
        label=_("Total (¥)"),
        max_digits=14,
        decimal_places=2,
        min_value=0.01,
        widget=forms.NumberInput(attrs={"inputmode": "decimal", "step": "0.01", "min": "0.01", "placeholder": "0.00"}),
    )
    share_count = forms.IntegerField(
        label=_("Number of shares"),
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "min": "1"}),
    )
    message = forms.CharField(
        label=_("Message"),
        max_length=LuckyPacket._meta.get_field("message").max_length,
        required=False,
        initial="",
        widget=forms.TextInput(attrs={"placeholder": _("Best wishes!")}),
    )
    # One random token per rendered form: a double tap or a resubmitted page sends the packet once.
    token = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["total"].widget.attrs["max"] = str(settings.LUCKY_MAX_TOTAL)
        self.fields["share_count"].widget.attrs["max"] = str(settings.LUCKY_MAX_SHARES)


# The send service's refusal codes, by the field they are about (any other refusal is the form's own).
SEND_ERROR_FIELDS = {
    "total_too_large": "total",
    "total_below_one_fen_each": "total",
    "uneven_equal_split": "total",
    "daily_limit_reached": "total",
    "insufficient_funds": "total",
    "share_count_out_of_range": "share_count",
}
