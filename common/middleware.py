"""The outermost middleware: error replies under /api/ are always the JSON `{code, message, details}` shape."""

import logging

from django.conf import settings

from .failures import UNAVAILABLE, exception_reply, failure_reply, is_api, json_error

logger = logging.getLogger(__name__)


class ErrorReplyMiddleware:
    """Refuses an over-long URI (414) anywhere and an over-large body (413) under /api/ before anything reads them;
    turns any other error reply under /api/ that is not JSON (Django's 404/405/400/403 pages, a 500 from a view
    outside DRF, DRF's browsable page of an error) into the JSON shape; answers 503 when a view fails because the
    database or broker is down (also with DEBUG on, where Django would show its traceback page instead)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # Below gunicorn's limit_request_line (config/runstack.py), so Django answers first, in our shape.
        if len(request.get_full_path()) > settings.MAX_URI_LENGTH:
            return failure_reply(request, 414)
        if is_api(request) and _declared_length(request) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return failure_reply(request, 413)  # API bodies are JSON only, so no file upload is exempt
        response = self.get_response(request)
        if is_api(request) and response.status_code >= 400 and not _is_json(response):
            response = _as_json(request, response)
        return response

    def process_exception(self, request, exception):
        if isinstance(exception, UNAVAILABLE):
            logger.error("%s %s: a dependency is unavailable", request.method, request.path, exc_info=exception)
            return exception_reply(request, exception)
        return None


def _declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _is_json(response) -> bool:
    return response.get("Content-Type", "").startswith("application/json")


def _as_json(request, response):
    data = getattr(response, "data", None)  # a DRF Response rendered as HTML keeps the error it carries
    if isinstance(data, dict) and {"code", "message"} <= data.keys():
        reply = json_error(
            request, response.status_code, code=data["code"], message=data["message"], details=data.get("details")
        )
    else:
        reply = json_error(request, response.status_code)
    for header in ("Allow", "Retry-After", "WWW-Authenticate", "Vary", "Content-Language"):
        if header in response:
            reply[header] = response[header]
    reply.cookies = response.cookies
    return reply
