"""Lucky money pages: my groups, a group's room (timeline, send form, grab buttons, invitation link and QR), the
invitation page, and the room's timeline as JSON for static/js/lucky_room.js. Thin: every write is a lucky.services
call, every refusal the service's own error, shown in the user's language."""

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from antifraud.devices import request_device
from common.errors import ApplicationError
from common.idempotency import run_once
from common.money import format_cny
from packets.posters import qr_svg

from . import errors, limits, room, selectors, services
from .forms import SEND_ERROR_FIELDS, GroupCreateForm, SendForm
from .models import LuckyGroup, LuckyShare

# Timestamps of grabs are taken when their transaction starts, and it commits a moment later: a poll looks this far
# behind its cursor so a grab that committed late is not missed (an entry sent twice just replaces itself).
CURSOR_GRACE = timedelta(seconds=5)


def _group_of(request, group_id: int) -> LuckyGroup:
    """The viewer's group; anyone else's (or none) is a 404."""
    group = selectors.groups_of(request.user).filter(pk=group_id).first()
    if group is None:
        raise Http404(errors.GROUP_NOT_FOUND)
    return group


def _invite_link(request, group: LuckyGroup) -> str:
    return request.build_absolute_uri(reverse("lucky:join", args=[group.invite_token]))


@login_required
@require_http_methods(["GET", "POST"])
def my_groups(request):
    """/lucky/ — the groups I am in, and a form to start one (I become its owner and first member)."""
    form = GroupCreateForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            group = services.group_create(owner=request.user, name=form.cleaned_data["name"])
            messages.success(request, _("Group “%(name)s” created. Invite people with its link.") % {"name": group})
            return redirect("lucky:room", group_id=group.pk)
        status = 400
    groups = [
        {"group": g, "member_count": g.memberships.count()} for g in selectors.groups_of(request.user).order_by("-pk")
    ]
    return render(request, "lucky/groups.html", {"form": form, "groups": groups}, status=status)


def _render_room(request, group: LuckyGroup, *, form: SendForm | None = None, status: int = 200):
    link = _invite_link(request, group)
    context = {
        "group": group,
        "members": [room.person(u, request.user) for u in selectors.group_members(group)],
        "entries": room.room_timeline(group, request.user),
        "cursor": timezone.now().isoformat(),
        "form": form or SendForm(),
        "invite_link": link,
        "is_owner": group.owner_id == request.user.pk,
        "LUCKY_MAX_TOTAL": settings.LUCKY_MAX_TOTAL,
        "LUCKY_MAX_SHARES": settings.LUCKY_MAX_SHARES,
        # segno's own markup (an inline <svg>); the URL inside is escaped into its <title>
        "qr_svg": mark_safe(qr_svg(link)),  # noqa: S308
    }
    return render(request, "lucky/room.html", context, status=status)


@login_required
@require_GET
def group_room(request, group_id: int):
    """/lucky/groups/<id>/ — the room: members only."""
    return _render_room(request, _group_of(request, group_id))


@login_required
@require_POST
def packet_send(request, group_id: int):
    """Send a packet to the room from my cash wallet. A refusal re-renders the form with the reason next to its
    field and writes nothing; the form's token makes a resubmission send once."""
    group = _group_of(request, group_id)
    form = SendForm(request.POST)
    if not form.is_valid():
        return _render_room(request, group, form=form, status=400)
    data = form.cleaned_data

    def send() -> dict:
        packet = services.packet_send(
            sender=request.user,
            group=group,
            kind=data["kind"],
            total=data["total"],
            share_count=data["share_count"],
            message=data["message"],
        )
        return {"packet": packet.pk, "total": str(packet.total)}

    try:
        limits.send_rate_check(request)
        result, replayed = run_once(
            scope=f"user:{request.user.pk}",
            key=f"lucky-send:{data['token']}",
            fingerprint=f"lucky-send:{group.pk}:{data['kind']}:{data['total']}:{data['share_count']}",
            action=send,
        )
    except ApplicationError as exc:
        form.add_error(SEND_ERROR_FIELDS.get(exc.code), str(exc.message))
        return _render_room(request, group, form=form, status=exc.status_code)
    if not replayed:
        messages.success(
            request, _("Lucky packet of %(total)s sent.") % {"total": format_cny(Decimal(result["total"]))}
        )
    return redirect(reverse("lucky:room", args=[group.pk]) + f"#packet-{result['packet']}")


@login_required
@require_POST
def group_leave(request, group_id: int):
    """Leave the room (a member's button; the owner is told they cannot and stays)."""
    group = _group_of(request, group_id)
    try:
        services.group_leave(group=group, user=request.user)
    except ApplicationError as exc:
        messages.error(request, str(exc.message))
        return redirect("lucky:room", group_id=group.pk)
    messages.success(request, _("You left “%(name)s”.") % {"name": group})
    return redirect("lucky:groups")


def _grab_result(exc: ApplicationError | None, share: LuckyShare | None) -> tuple[str, str]:
    """(outcome, message) of a grab: what the button's owner is told."""
    if share is not None:
        return "got", _("You got %(amount)s!") % {"amount": format_cny(share.amount)}
    if exc.code == "all_grabbed":
        return "too_late", pgettext("grab result", "All grabbed")
    return "refused", str(exc.message)


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@login_required
@require_POST
def packet_grab(request, packet_id: int):
    """Grab a share of a packet of one of my groups. Answers JSON to the room's script (the result and the packet's
    refreshed entry) and, without script, goes back to the room with the result as a message."""
    packet = selectors.packets_visible_to(request.user).filter(pk=packet_id, group__isnull=False).first()
    if packet is None:
        raise Http404(errors.PACKET_NOT_FOUND)
    share = exc = None
    try:
        limits.grab_rate_check(request)
        device = request_device(request, request.user)  # recorded as used by this account, for lucky.risk
        share = services.packet_grab(packet=packet, user=request.user, device=device)
    except ApplicationError as refused:
        exc = refused
    outcome, message = _grab_result(exc, share)
    if _wants_json(request):
        packet.refresh_from_db()
        html = render_to_string(
            "lucky/_packet.html", {"entry": room.packet_entry(packet, request.user)}, request=request
        )
        status = 200 if exc is None or exc.code == "all_grabbed" else exc.status_code
        code = "" if exc is None else exc.code
        return JsonResponse({"outcome": outcome, "code": code, "message": message, "html": html}, status=status)
    (messages.success if share is not None else messages.warning)(request, message)
    return redirect(reverse("lucky:room", args=[packet.group_id]) + f"#packet-{packet.pk}")


@login_required
@require_GET
def room_timeline(request, group_id: int):
    """/lucky/groups/<id>/timeline.json?since=<cursor> — the packets that changed since the cursor, rendered, and
    the next cursor. Polled by static/js/lucky_room.js; members only (a 404 JSON for anyone else)."""
    group = selectors.groups_of(request.user).filter(pk=group_id).first()
    if group is None:
        return JsonResponse({"code": "not_found", "message": str(errors.GROUP_NOT_FOUND), "details": {}}, status=404)
    raw = request.GET.get("since", "")
    try:
        since = parse_datetime(raw) if raw else None
    except ValueError:  # well-formed but impossible, e.g. month 13
        since = None
    if raw and (since is None or timezone.is_naive(since)):
        return JsonResponse(
            {"code": "invalid_cursor", "message": _("The cursor is not a time this page gave out."), "details": {}},
            status=400,
        )
    cursor = timezone.now()
    entries = room.room_timeline(group, request.user, changed_since=since - CURSOR_GRACE if since else None)
    packets = [
        {
            "id": e.packet.pk,
            "dom_id": e.dom_id,
            "html": render_to_string("lucky/_packet.html", {"entry": e}, request=request),
        }
        for e in reversed(entries)  # oldest first: the script prepends each, so the newest ends on top
    ]
    response = JsonResponse({"cursor": cursor.isoformat(), "packets": packets})
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def group_join(request, token: str):
    """/lucky/join/<token>/ — where the invitation link and its QR lead: the group and a join button. Signed-out
    visitors log in first and come back here. The token is the invitation's secret: an unknown one is a 404."""
    group = LuckyGroup.objects.filter(invite_token=token).first()
    if group is None:
        raise Http404(errors.INVITATION_NOT_FOUND)
    if request.method == "POST":
        services.group_join(user=request.user, invite_token=token)
        messages.success(request, _("Welcome to “%(name)s”!") % {"name": group})
        return redirect("lucky:room", group_id=group.pk)
    context = {
        "group": group,
        "owner": room.person(group.owner, request.user),
        "member_count": group.memberships.count(),
        "is_member": group.memberships.filter(user=request.user).exists(),
    }
    return render(request, "lucky/join.html", context)
