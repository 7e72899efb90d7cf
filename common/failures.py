"""What any route answers when a request fails: under /api/ the JSON `{code, message, details}`, elsewhere a branded
page (templates/404.html, 500.html, 503.html, 414.html), in the request's language (cookie, then Accept-Language,
then settings.LANGUAGE_CODE = zh-Hans).

Used by the outermost middleware (common/middleware.py), the URLconf's handler404/handler500 (common/views.py) and the
DRF exception handler (common/api.py). Nothing here touches the database, the session or the cache: these replies
must work while PostgreSQL or Redis is down.
"""

from django.conf import settings
from django.db import InterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.http import HttpResponse, JsonResponse
from django.template import loader
from django.utils import translation
from kombu.exceptions import OperationalError as BrokerOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from . import errors

API_PREFIX = "/api/"

# A dependency that is down or briefly refusing us (PostgreSQL unreachable, a dropped connection, the broker or the
# Redis cache gone; psycopg's OperationalError also covers deadlocks and statement timeouts, equally worth a retry):
# 503 + Retry-After, so clients and load balancers retry instead of treating it as our bug.
UNAVAILABLE = (
    DatabaseOperationalError,
    InterfaceError,
    BrokerOperationalError,
    RedisConnectionError,
    RedisTimeoutError,
)

# Statuses the plumbing answers itself, with their stable code and message.
STATUS_REPLIES = {
    400: ("bad_request", errors.BAD_REQUEST),
    401: ("not_authenticated", errors.NOT_AUTHENTICATED),
    403: ("permission_denied", errors.PERMISSION_DENIED),
    404: ("not_found", errors.NOT_FOUND),
    405: ("method_not_allowed", errors.METHOD_NOT_ALLOWED),
    413: ("body_too_large", errors.BODY_TOO_LARGE),
    414: ("uri_too_long", errors.URI_TOO_LONG),
    429: ("rate_limited", errors.RATE_LIMITED),
    500: ("server_error", errors.SERVER_ERROR),
    503: ("service_unavailable", errors.SERVICE_UNAVAILABLE),
}
PAGE_TEMPLATES = {404: "404.html", 414: "414.html", 500: "500.html", 503: "503.html"}


def is_api(request) -> bool:
    return request.path_info.startswith(API_PREFIX)


def reply_language(request) -> str:
    """The language of the reply: what LocaleMiddleware would choose (it may not have run yet when this answers)."""
    return translation.get_language_from_request(request)


def unavailable_headers() -> dict[str, str]:
    return {"Retry-After": str(settings.SERVICE_UNAVAILABLE_RETRY_AFTER)}


def error_body(code: str, message, details=None) -> dict:
    return {"code": code, "message": str(message), "details": details or {}}


def json_error(request, status: int, *, code: str | None = None, message=None, details=None, headers=None):
    """The JSON error shape for `status`; code and message default to the status's own."""
    fallback = ("error", errors.BAD_REQUEST if status < 500 else errors.SERVER_ERROR)
    default_code, default_message = STATUS_REPLIES.get(status, fallback)
    with translation.override(reply_language(request)):
        body = error_body(code or default_code, message or default_message, details)
        response = JsonResponse(body, status=status, headers=headers, json_dumps_params={"ensure_ascii": False})
    return response


def error_page(request, status: int, *, headers=None) -> HttpResponse:
    """A branded page, rendered without the request: no context processor runs, so nothing reads the session, the
    user or the database (a 500 or 503 page must render with PostgreSQL down)."""
    with translation.override(reply_language(request)):
        html = loader.render_to_string(PAGE_TEMPLATES[status], {"status": status})
        language = translation.get_language()
    return HttpResponse(html, status=status, headers={"Content-Language": language, **(headers or {})})


def failure_reply(request, status: int) -> HttpResponse:
    """The reply for a failure with this status: JSON under /api/, the branded page elsewhere."""
    headers = unavailable_headers() if status == 503 else None
    if is_api(request):
        return json_error(request, status, headers=headers)
    return error_page(request, status, headers=headers)


def exception_reply(request, exc: BaseException | None) -> HttpResponse:
    """An exception no view handled: 503 when a dependency is unavailable, else 500."""
    return failure_reply(request, 503 if isinstance(exc, UNAVAILABLE) else 500)
