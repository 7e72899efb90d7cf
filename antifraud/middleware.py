"""A banned account, signed in, gets the suspension notice on every page (403) and `account_banned` on the API; the
appeal form, logging out, switching language and static files stay reachable."""

from django.http import JsonResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _

API_PREFIX = "/api/"
ALWAYS_OPEN = ("/static/", "/healthz", "/favicon.ico")


def _url(name: str, default: str) -> str:
    """The named page's path; the default where the running URLconf does not have it (a test's own URLconf)."""
    try:
        return reverse(name)
    except NoReverseMatch:
        return default


def _open_paths() -> tuple[str, ...]:
    return (
        *ALWAYS_OPEN,
        _url("antifraud:appeal", "/appeal/"),
        _url("accounts:logout", "/accounts/logout/"),
        _url("set_language", "/i18n/setlang/"),
    )


def _token_user_banned(request) -> bool:
    """An API caller authenticated by token (DRF authenticates later, in the view): is the token's account banned?"""
    words = request.headers.get("Authorization", "").split()
    if len(words) != 2 or words[0].lower() != "token":
        return False
    from rest_framework.authtoken.models import Token

    return Token.objects.filter(key=words[1], user__is_banned=True).exists()


class BannedUserMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        user = getattr(request, "user", None)
        banned = bool(user is not None and user.is_authenticated and user.is_banned)
        api = path.startswith(API_PREFIX)
        if not (banned or (api and _token_user_banned(request))) or path.startswith(_open_paths()):
            return self.get_response(request)
        appeal = _url("antifraud:appeal", "/appeal/")
        if api:
            return JsonResponse(
                {
                    "code": "account_banned",
                    "message": _("This account is suspended. You can appeal at %(url)s.") % {"url": appeal},
                    "details": {"appeal_url": request.build_absolute_uri(appeal)},
                },
                status=403,
            )
        return render(request, "antifraud/banned.html", status=403)
