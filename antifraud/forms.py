from django import forms
from django.utils.translation import gettext_lazy as _

TEXT_MAX = 2000


class AppealForm(forms.Form):
    """The suspended shopper's appeal: what happened, and how to reach them."""

    text = forms.CharField(
        label=_("What happened"),
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("Tell us why you think the suspension is a mistake: what you bought, where, and when."),
        error_messages={"required": _("Tell us what happened.")},
    )
    contact = forms.CharField(
        label=_("How to reach you"),
        max_length=100,
        required=False,
        help_text=_("A phone number or an email address (optional)."),
    )

    def clean_text(self):
        text = self.cleaned_data["text"].strip()
        if not text:
            raise forms.ValidationError(_("Tell us what happened."))
        return text


class ReasonForm(forms.Form):
    """The reason an operator gives for a review decision or a penalty: kept in the review trail."""

    reason = forms.CharField(
        label=_("Reason"),
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text=_("Kept in the review trail with your name."),
    )


class FindingConfirmForm(ReasonForm):
    ban = forms.BooleanField(label=_("Also ban the accounts named in the finding"), required=False)


class ResponseForm(ReasonForm):
    """An appeal decision: the response is shown to the shopper."""

    reason = forms.CharField(
        label=_("Response to the shopper"),
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text=_("Shown to the shopper on the appeal page, and kept in the review trail."),
    )
