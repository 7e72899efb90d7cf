"""A banned account, signed in, gets the suspension notice on every page (403) and `account_banned` on the API; the
appeal form, logging out, switching language and static files stay reachable."""

from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

API_PREFIX = "/api/"
ALWAYS_OPEN = ("/static/", "/healthz", "/favicon.ico")


def _open_paths() -> tuple[str, ...]:
    return (*ALWAYS_OPEN, reverse("antifraud:appeal"), reverse("accounts:logout"), reverse("set_language"))


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
        self._open = None

    def __call__(self, request):
        path = request.path_info
        if self._open is None:
            self._open = _open_paths()
        if path.startswith(self._open):
            return self.get_response(request)
        user = getattr(request, "user", None)
        banned = bool(user is not None and user.is_authenticated and user.is_banned)
        if path.startswith(API_PREFIX):
            if banned or _token_user_banned(request):
                return JsonResponse(
                    {
                        "code": "account_banned",
                        "message": _("This account is suspended. You can appeal at %(url)s.")
                        % {"url": reverse("antifraud:appeal")},
                        "details": {"appeal_url": request.build_absolute_uri(reverse("antifraud:appeal"))},
                    },
                    status=403,
                )
        elif banned:
            return render(request, "antifraud/banned.html", status=403)
        return self.get_response(request)
