from django.contrib.auth.forms import AuthenticationForm, UserChangeForm, UserCreationForm
from django.utils.translation import gettext_lazy as _

from .models import User


class LoginForm(AuthenticationForm):
    """One box for username, phone or email (see accounts.backends.UsernamePhoneEmailBackend)."""

    error_messages = {
        "invalid_login": _("Wrong username, phone, email or password. Please try again."),
        "inactive": _("This account is inactive."),
    }

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        username = self.fields["username"]
        username.label = _("Username, phone or email")
        username.max_length = 254
        username.widget.attrs.update(
            {"maxlength": 254, "autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"}
        )
        self.fields["password"].label = _("Password")


class PhoneCleanMixin:
    """An empty phone is stored as NULL so the unique constraint allows many accounts without a phone."""

    def clean_phone(self):
        phone = (self.cleaned_data.get("phone") or "").strip()
        return phone or None


class UserAdminCreationForm(PhoneCleanMixin, UserCreationForm):
    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "phone", "email")


class UserAdminChangeForm(PhoneCleanMixin, UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"
