"""API plumbing shared by every app: one error shape `{code, message, details}`, in the request's language."""

import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from . import errors
from .errors import ApplicationError
from .failures import UNAVAILABLE, error_body, unavailable_headers

logger = logging.getLogger(__name__)

_DRF_CODES = {
    exceptions.ParseError: "malformed_json",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
    exceptions.ValidationError: "invalid",
}


def error_response(code: str, message, http_status: int, details=None, headers=None) -> Response:
    return Response(error_body(code, message, details), status=http_status, headers=headers)


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        exc.after_rollback()
        return error_response(exc.code, exc.message, exc.status_code, exc.details)
    if isinstance(exc, RequestDataTooBig):
        return error_response("body_too_large", errors.BODY_TOO_LARGE, status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, UNAVAILABLE):
        logger.error("%s: a dependency is unavailable", context["request"].path, exc_info=exc)
        return error_response(
            "service_unavailable", errors.SERVICE_UNAVAILABLE, status.HTTP_503_SERVICE_UNAVAILABLE,
            headers=unavailable_headers(),
        )  # fmt: skip
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
    if isinstance(exc, exceptions.ValidationError):
        return error_response(code, errors.REQUEST_INVALID, response.status_code, response.data)
    message = str(exc.detail) if hasattr(exc, "detail") else str(exc)
    return error_response(code, message, response.status_code)


class MoneyField(serializers.DecimalField):
    """CNY as a decimal string ("12.50"): at most two places, never a JSON float (floats cannot hold fen exactly)."""

    default_error_messages = {"float": _('Send amounts as decimal strings, e.g. "12.50", not JSON numbers.')}

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", 14)
        kwargs.setdefault("decimal_places", 2)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, float | bool):
            self.fail("float")
        return super().to_internal_value(data)


# The error shape in the OpenAPI schema: one component every endpoint refers to.
ERROR = inline_serializer(
    "Error", {"code": serializers.CharField(), "message": serializers.CharField(), "details": serializers.DictField()}
)
