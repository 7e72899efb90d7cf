"""A banned account, signed in, gets the suspension notice on every page (403) and `account_banned` on the API (token
callers through `BanAwareTokenAuthentication`); the appeal form, logging out, switching language and static files
stay reachable."""

from django.http import JsonResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from rest_framework.authentication import TokenAuthentication

from common.errors import ApplicationError

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


class BannedUserMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        user = getattr(request, "user", None)
        banned = bool(user is not None and user.is_authenticated and user.is_banned)
        api = path.startswith(API_PREFIX)
        if not banned or path.startswith(_open_paths()):
            return self.get_response(request)
        if api:
            error = account_banned_error(request)
            return JsonResponse({"code": error.code, "message": error.message, "details": error.details}, status=403)
        return render(request, "antifraud/banned.html", status=403)


def account_banned_error(request) -> ApplicationError:
    appeal = _url("antifraud:appeal", "/appeal/")
    return ApplicationError(
        _("This account is suspended. You can appeal at %(url)s.") % {"url": appeal},
        code="account_banned",
        status=403,
        details={"appeal_url": request.build_absolute_uri(appeal)},
    )


class BanAwareTokenAuthentication(TokenAuthentication):
    """Token callers of a banned account get `account_banned`, checked on the user the token lookup already loaded
    (session callers are answered by the middleware above)."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None and result[0].is_banned:
            raise account_banned_error(request)
        return result
