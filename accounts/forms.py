import re

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm, UserChangeForm, UserCreationForm
from django.core import validators
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from . import services
from .backends import normalize_phone
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


# --- sign-up and profile ----------------------------------------------------------------------------------------

# Province-level regions by the short names campaigns use in their region lists ("广东", "广东/深圳").
PROVINCES = [
    "北京", "天津", "上海", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江", "安徽", "福建", "江西",
    "山东", "河南", "湖北", "湖南", "广东", "海南", "四川", "贵州", "云南", "陕西", "甘肃", "青海", "台湾", "内蒙古",
    "广西", "西藏", "宁夏", "新疆", "香港", "澳门",
]  # fmt: skip
CHANNEL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,15}$")


def _is_email(value: str) -> bool:
    return "@" in value


class SignupForm(forms.Form):
    """Phone number OR email, a password twice, an optional invite code. A share link fills the code in."""

    account = forms.CharField(
        label=_("Phone number or email"),
        max_length=254,
        help_text=_("An 11-digit mainland China mobile number, or an email address. You log in with it."),
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"}),
    )
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        help_text=_("At least 8 characters, not only digits, not a common password."),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label=_("Password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    invite_code = forms.CharField(
        label=_("Invite code (optional)"),
        required=False,
        max_length=16,
        help_text=_("From a friend who invited you. Both of you may receive red packets."),
        widget=forms.TextInput(attrs={"autocapitalize": "none", "spellcheck": "false", "autocomplete": "off"}),
    )
    ch = forms.CharField(required=False, max_length=16, widget=forms.HiddenInput)

    error_messages = {
        "phone_format": _("Enter an 11-digit mainland China mobile number starting with 13–19, e.g. 13812345678."),
        "phone_taken": _("This phone number is already registered. Log in instead, or use another number."),
        "email_taken": _("This email address is already registered. Log in instead, or use another address."),
        "invite_unknown": _("No account has this invite code. Check it, or leave the field empty."),
        "password_mismatch": _("The two passwords do not match."),
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.phone: str | None = None
        self.email = ""
        self.inviter: User | None = None

    def clean_account(self) -> str:
        value = self.cleaned_data["account"].strip()
        if _is_email(value):
            try:
                validators.validate_email(value)
            except ValidationError:
                raise ValidationError(_("Enter a valid email address, e.g. name@example.com."), code="email") from None
            self.email = User.objects.normalize_email(value)
            if services.email_is_taken(self.email):
                raise ValidationError(self.error_messages["email_taken"], code="email_taken")
            return self.email
        phone = normalize_phone(value)
        if not services.MAINLAND_MOBILE.match(phone):
            raise ValidationError(self.error_messages["phone_format"], code="phone_format")
        if services.phone_is_taken(phone):
            raise ValidationError(self.error_messages["phone_taken"], code="phone_taken")
        self.phone = phone
        return phone

    def clean_invite_code(self) -> str:
        code = "".join(self.cleaned_data["invite_code"].split())
        if not code:
            return ""
        self.inviter = User.objects.filter(invite_code=code, is_active=True, is_banned=False).first()
        if self.inviter is None:
            raise ValidationError(self.error_messages["invite_unknown"], code="invite_unknown")
        return code

    def clean_ch(self) -> str:
        channel = self.cleaned_data["ch"].strip()
        return channel if CHANNEL_PATTERN.match(channel) else ""

    def clean(self):
        cleaned = super().clean()
        password1, password2 = cleaned.get("password1"), cleaned.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", ValidationError(self.error_messages["password_mismatch"], code="mismatch"))
        elif password1:
            candidate = User(username=self.phone or self.email, phone=self.phone, email=self.email)
            try:
                password_validation.validate_password(password1, user=candidate)
            except ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned


class ProfileForm(forms.Form):
    province = forms.ChoiceField(
        label=_("Province"),
        required=False,
        choices=[("", _("— choose —")), *((p, p) for p in PROVINCES)],
        help_text=_("Some campaigns run only in certain regions."),
    )
    city = forms.CharField(
        label=_("City"),
        required=False,
        max_length=32,
        help_text=_("For example 深圳. Leave empty if you prefer not to say."),
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("city") and not cleaned.get("province"):
            self.add_error("province", _("Choose the province of your city."))
        return cleaned
