"""Account pages: login (username / phone / email), logout (POST only), sign-up through a share link, profile."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods
from django_ratelimit.core import is_ratelimited

from antifraud.devices import page_fingerprint
from common.http import client_ip

from . import services
from .forms import LoginForm, ProfileForm, SignupForm
from .models import User

BACKEND = "accounts.backends.UsernamePhoneEmailBackend"
SIGNUP_PACKETS_KEY = "signup_packets"  # ids of the packets the sign-up brought, for the welcome page
# Sign-ups per network address: enough for a family or an office, too few for a script farming newbie packets.
SIGNUP_RATE = "10/h"


class LoginView(auth_views.LoginView):
    """Sign in with username, phone or email; a signed-in visitor is sent on instead of seeing the form again."""

    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    """POST only (Django 5): a GET answers 405, so a link or an image tag cannot sign anybody out."""


def masked(user: User | None) -> str:
    """How one shopper is shown to another: 138****0001, m***@example.test — never the full number or address."""
    if user is None:
        return ""
    if user.phone:
        return f"{user.phone[:3]}****{user.phone[-4:]}"
    if user.email and "@" in user.email:
        local, domain = user.email.split("@", 1)
        return f"{local[:1]}***@{domain}"
    return f"{user.username[:2]}***"


def _safe_next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return ""


@require_http_methods(["GET", "POST"])
def signup(request):
    """/accounts/signup/ — also the landing of share links: ?share=<invite code>&ch=<channel> or ?invite=<code>."""
    next_url = _safe_next(request)
    if request.user.is_authenticated:
        messages.info(request, _("You are already signed in. Invitations are for new accounts."))
        return redirect(next_url or "home")
    code = (request.GET.get("share") or request.GET.get("invite") or request.POST.get("invite_code") or "").strip()
    if request.method == "GET":
        form = SignupForm(initial={"invite_code": code, "ch": request.GET.get("ch", "")})
        return _render_signup(request, form, next_url=next_url, code=code)

    form = SignupForm(request.POST)
    if is_ratelimited(request, group="accounts.signup", key="ip", rate=SIGNUP_RATE, increment=True):
        form.is_valid()
        form.add_error(None, _("Too many sign-ups from your network in the last hour. Please try again later."))
        return _render_signup(request, form, next_url=next_url, code=code, status=429)
    if not form.is_valid():
        return _render_signup(request, form, next_url=next_url, code=code, status=400)
    try:
        registration = services.user_register(
            phone=form.phone,
            email=form.email,
            password=form.cleaned_data["password1"],
            inviter=form.inviter,
            channel=form.cleaned_data["ch"],
            ip=client_ip(request) or None,
            device_fingerprint=page_fingerprint(request),
        )
    except services.PhoneTaken:
        form.add_error("account", form.error_messages["phone_taken"])
        return _render_signup(request, form, next_url=next_url, code=code, status=409)
    except services.EmailTaken:
        form.add_error("account", form.error_messages["email_taken"])
        return _render_signup(request, form, next_url=next_url, code=code, status=409)
    login(request, registration.user, backend=BACKEND)
    request.session[SIGNUP_PACKETS_KEY] = [p.pk for p in registration.packets]
    welcome = reverse("accounts:welcome")
    return redirect(f"{welcome}?{urlencode({'next': next_url})}" if next_url else welcome)


def _render_signup(request, form, *, next_url: str, code: str, status: int = 200):
    inviter = None
    if code:
        inviter = User.objects.filter(invite_code=code, is_active=True, is_banned=False).first()
    context = {
        "form": form,
        "next": next_url,
        "inviter": masked(inviter),
        "login_url": reverse("accounts:login") + (f"?{urlencode({'next': next_url})}" if next_url else ""),
        "campaigns": _signup_campaigns(),
    }
    return render(request, "accounts/signup.html", context, status=status)


def _signup_campaigns():
    """Running campaigns that give something for signing up or joining through a friend, with their organiser."""
    from campaigns.models import Campaign, EarnRule

    now = timezone.now()
    return (
        Campaign.objects.filter(
            status=Campaign.Status.ACTIVE,
            starts_at__lte=now,
            ends_at__gt=now,
            earn_rules__trigger__in=[EarnRule.Trigger.REGISTRATION, EarnRule.Trigger.REFERRAL],
        )
        .select_related("merchant")
        .distinct()
        .order_by("pk")[:5]
    )


@login_required
@require_GET
def welcome(request):
    """After sign-up: the packets it brought (kept in the session by id, shown only to their holder)."""
    from packets.models import Packet
    from packets.store import PacketView

    ids = request.session.get(SIGNUP_PACKETS_KEY) or []
    now = timezone.now()
    packets = Packet.objects.filter(pk__in=ids, holder=request.user).select_related("campaign").order_by("pk")
    context = {
        "packets": [PacketView(p, now) for p in packets],
        "inviter": masked(request.user.invited_by),
        "next": _safe_next(request),
    }
    return render(request, "accounts/welcome.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def profile(request):
    user = request.user
    if request.method == "POST":
        form = ProfileForm(request.POST)
        if form.is_valid():
            services.user_update_region(
                user=user, province=form.cleaned_data["province"], city=form.cleaned_data["city"]
            )
            messages.success(request, _("Your profile was saved."))
            return redirect("accounts:profile")
        status = 400
    else:
        form = ProfileForm(initial={"province": user.province, "city": user.city})
        status = 200
    context = {
        "form": form,
        "inviter": masked(user.invited_by),
        "invitees": user.invitees.count(),
        "share_url": "/share/",  # packets/urls.py (earn), mounted at the root
    }
    return render(request, "accounts/profile.html", context, status=status)
