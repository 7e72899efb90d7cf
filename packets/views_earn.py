"""Shopper pages that hand out red packets outside an order: claim by code (typed, from a link or a poster's QR),
the daily check-in with its streak, and "share my link" with a QR code.

Every page names the campaign(s) behind it with their organiser, whether the organiser is verified, and a link to
the full public rules. Claiming goes through `packets.batch.packet_claim`; check-in issues through
`packets.checkin.checkin_record`, which issues like sign-up does."""

from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.db.models import Sum
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods
from django_ratelimit.core import is_ratelimited

from accounts.models import User
from accounts.selectors import merchant_of
from accounts.views import masked
from antifraud.context import page_context
from antifraud.limits import burst_limited
from campaigns.models import Campaign, EarnRule
from common.errors import ApplicationError
from common.money import format_cny

from . import batch, codes, posters
from .checkin import checkin_record, checkin_status
from .models import Packet
from .store import PacketView

CLAIM_RATE = "30/m"  # shared with the claim API (same group): codes are unguessable, this only spares the lock
SHARE_CHANNELS = ("link", "qr")


def _live_campaigns(triggers: list[str]):
    """Running campaigns with an earn rule for one of these triggers, organiser loaded."""
    now = timezone.now()
    return (
        Campaign.objects.filter(
            status=Campaign.Status.ACTIVE, starts_at__lte=now, ends_at__gt=now, earn_rules__trigger__in=triggers
        )
        .select_related("merchant")
        .distinct()
        .order_by("pk")
    )


# --- claim by code -------------------------------------------------------------------------------------------------


class ClaimCodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Red packet code"),
        max_length=40,
        help_text=gettext_lazy("16 letters and digits, as printed. Spaces, dashes and lower case are fine."),
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "autocapitalize": "characters",
                "spellcheck": "false",
                "placeholder": "XXXX-XXXX-XXXX-XXXX",
                "class": "code-input",
            }
        ),
    )

    def clean_code(self) -> str:
        canonical = codes.normalize(self.cleaned_data["code"])
        if canonical is None:
            raise forms.ValidationError(
                _("A red packet code has 16 letters and digits, like 7K3M-9QXD-2B4N-HT6W. Please check it."),
                code="invalid_code",
            )
        return canonical


def _claim_error_message(exc: ApplicationError) -> str:
    messages_by_code = {
        "packet_not_found": _("We could not find a red packet with this code. Please check it and try again."),
        "packet_already_claimed": _("This red packet has already been claimed by someone else."),
        "packet_expired": _("This red packet has expired."),
        "packet_used": _("This red packet has already been used."),
        "packet_revoked": _("This red packet has been revoked."),
        "campaign_not_active": _("This red packet's campaign is not running right now."),
        "per_user_limit_reached": _("You already hold as many red packets of this campaign as it allows."),
        "not_a_shopper": _("Merchant staff accounts cannot claim red packets. Log in with a shopper account."),
        "rate_limited": _("Too many attempts. Please wait a minute and try again."),
        "ip_daily_limit": _("Your network has received as many red packets of this campaign as it allows today."),
        "device_daily_limit": _("This device has received as many red packets of this campaign as it allows today."),
        "account_daily_limit": _("You have received as many red packets of this campaign as it allows today."),
        "ip_too_soon": _("Red packets from one network must be a few minutes apart. Please try again later."),
        "device_too_soon": _("Red packets on one device must be a few minutes apart. Please try again later."),
        "device_banned": _("This device can no longer receive red packets."),
    }
    return messages_by_code.get(exc.code) or _("This red packet cannot be claimed (%(code)s).") % {"code": exc.code}


def _claim(request, code: str) -> Packet:
    """Claim for the signed-in shopper, with the API's rules: no merchant staff, at most CLAIM_RATE attempts."""
    if merchant_of(request.user) is not None:
        raise ApplicationError(_("Merchant staff cannot claim packets."), code="not_a_shopper", status=403)
    if is_ratelimited(request, group="packets.claim", key="user", rate=CLAIM_RATE, increment=True):
        raise ApplicationError(_("Too many claims."), code="rate_limited", status=429)
    context = page_context(request, request.user)
    if burst_limited(request, group="packets.claim", device=context.device):
        raise ApplicationError(_("Too many claims."), code="rate_limited", status=429)
    return batch.packet_claim(code=code, user=request.user, context=context)


def _claimable_campaigns():
    """Running campaigns that hand out codes (cards, leaflets, posters): the ones with a generated batch."""
    return (
        _live_campaigns([t for t, _label in EarnRule.Trigger.choices]).filter(packet_batches__status="done").distinct()
    )


@require_http_methods(["GET", "POST"])
def claim_enter(request):
    """/claim/ — type a code. Anonymous visitors may type it; claiming it asks them to log in (or sign up) first."""
    form = ClaimCodeForm(request.POST or None, initial={"code": request.GET.get("code", "")})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            code = form.cleaned_data["code"]
            if not request.user.is_authenticated:
                return redirect_to_login(reverse("earn:claim_code", args=[code]))
            try:
                _claim(request, code)
            except ApplicationError as exc:
                form.add_error("code", _claim_error_message(exc))
                status = exc.status_code
            else:
                messages.success(request, _("The red packet is yours. Spend it in the store before it expires."))
                return redirect("earn:claim_code", code=code)
        else:
            status = 400
    context = {"form": form, "campaigns": _claimable_campaigns()}
    return render(request, "packets/claim.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def claim_code(request, code: str):
    """/claim/<code>/ — from a link, a CSV line or a card's QR: shows the packet, and one tap claims it.
    Claiming is a POST (a link preview or a prefetch must never claim); after login the shopper lands here."""
    canonical = codes.normalize(code)
    if canonical is None:
        return _render_claim_code(request, None, code, error=_claim_error_message(_not_found()), status=404)
    if canonical != code:
        return redirect("earn:claim_code", code=canonical)
    error, status = "", 200
    if request.method == "POST":
        try:
            _claim(request, canonical)
        except ApplicationError as exc:
            error, status = _claim_error_message(exc), exc.status_code
        else:
            messages.success(request, _("The red packet is yours. Spend it in the store before it expires."))
            return redirect("earn:claim_code", code=canonical)
    packet = Packet.objects.select_related("campaign__merchant").filter(code=canonical).first()
    if packet is None:
        return _render_claim_code(request, None, canonical, error=_claim_error_message(_not_found()), status=404)
    return _render_claim_code(request, packet, canonical, error=error, status=status)


def _not_found() -> ApplicationError:
    return ApplicationError(code="packet_not_found", status=404)


def _render_claim_code(request, packet: Packet | None, code: str, *, error: str = "", status: int = 200):
    now = timezone.now()
    state = "unknown"
    if packet is not None:
        if packet.holder_id == request.user.pk:
            state = "mine"
        elif packet.holder_id is not None:
            state = "taken"
            error = error or _claim_error_message(batch.PacketAlreadyClaimed())
        elif packet.status != Packet.Status.ISSUED or packet.expires_at <= now:
            state = "closed"
        else:
            state = "open"
    context = {
        "code": code,
        "packet": packet,
        "view": PacketView(packet, now) if packet else None,
        "state": state,
        "error": error,
        "campaigns": [packet.campaign] if packet else [],
        "form": ClaimCodeForm(),
    }
    return render(request, "packets/claim_code.html", context, status=status)


@require_http_methods(["GET"])
def claim_campaign(request, campaign_id: int):
    """/claim/campaign/<id>/?ch=<channel> — where a campaign poster's QR code leads (packets.posters): the campaign,
    its organiser and rules, and the ways to get its packets: sign up through the poster, or type a card's code."""
    campaign = get_object_or_404(
        Campaign.objects.select_related("merchant").exclude(status=Campaign.Status.DRAFT), pk=campaign_id
    )
    channel = request.GET.get("ch", "")
    try:
        channel = posters.clean_channel(channel)
    except ApplicationError:
        channel = ""
    triggers = set(campaign.earn_rules.values_list("trigger", flat=True))
    signup_url = reverse("accounts:signup") + ("?" + urlencode({"ch": channel}) if channel else "")
    context = {
        "campaign": campaign,
        "campaigns": [campaign],
        "live": campaign.is_live(),
        "newbie": bool(triggers & {EarnRule.Trigger.REGISTRATION, EarnRule.Trigger.REFERRAL}),
        "checkin": EarnRule.Trigger.CHECK_IN in triggers,
        "purchase": EarnRule.Trigger.PURCHASE in triggers,
        "signup_url": signup_url,
        "form": ClaimCodeForm(),
    }
    return render(request, "packets/claim_campaign.html", context)


# --- daily check-in ------------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def checkin(request):
    """/checkin/ — GET shows the streak; POST checks in (once a day; a double submit is one check-in)."""
    if request.method == "POST":
        result = checkin_record(user=request.user, context=page_context(request, request.user))
        if not result.created:
            messages.info(request, _("You have already checked in today. Come back tomorrow!"))
        else:
            text = _("Checked in: day %(n)d in a row.") % {"n": result.checkin.streak}
            if result.packets:
                amounts = ", ".join(PacketView(p, timezone.now()).amount_display for p in result.packets)
                text += " " + _("You received a red packet: %(amounts)s.") % {"amounts": amounts}
            messages.success(request, text)
        return redirect("earn:checkin")
    now = timezone.now()
    status = checkin_status(request.user, now=now)
    earned = (
        Packet.objects.filter(holder=request.user, channel=EarnRule.Trigger.CHECK_IN)
        .select_related("campaign")
        .order_by("-issued_at", "-pk")[:3]
    )
    context = {
        "status": status,
        "earned": [PacketView(p, now) for p in earned],
        "campaigns": _live_campaigns([EarnRule.Trigger.CHECK_IN]),
    }
    return render(request, "packets/checkin.html", context)


# --- share my link -------------------------------------------------------------------------------------------------


def share_path(user: User, channel: str) -> str:
    """The sign-up link that attributes a new account to `user` (accounts.views.signup reads it)."""
    return reverse("accounts:signup") + "?" + urlencode({"share": user.invite_code, "ch": channel})


@login_required
@require_http_methods(["GET"])
def share(request):
    """/share/ — my link to copy, and the same link as a QR code for a friend's phone camera."""
    user = request.user
    link = request.build_absolute_uri(share_path(user, "link"))
    qr_link = request.build_absolute_uri(share_path(user, "qr"))
    rewards = Packet.objects.filter(holder=user, channel=EarnRule.Trigger.SHARE).aggregate(total=Sum("amount"))
    context = {
        "link": link,
        "qr_link": qr_link,
        # segno's own markup (an inline <svg>); the URL inside is escaped into its <title>
        "qr_svg": mark_safe(posters.qr_svg(qr_link)),  # noqa: S308
        "invite_code": user.invite_code,
        "friends": [masked(friend) for friend in user.invitees.order_by("-date_joined", "-pk")[:20]],
        "friends_count": user.invitees.count(),
        "share_total": format_cny(rewards["total"]) if rewards["total"] else "",
        "campaigns": _live_campaigns([EarnRule.Trigger.SHARE, EarnRule.Trigger.REFERRAL]),
    }
    return render(request, "packets/share.html", context)
