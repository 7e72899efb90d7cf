"""API plumbing shared by every app: one error shape `{code, message, details}`, in the request's language."""

import logging
from decimal import Decimal

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from . import errors
from .datetimes import ACCEPTED_PATTERN, RFC3339_PATTERN, DateTimeError, format_datetime, parse_datetime
from .errors import ApplicationError
from .failures import UNAVAILABLE, error_body, unavailable_headers
from .money import MoneyError, amount_pattern, parse_amount

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
    """CNY as a plain decimal string ("12", "12.5", "12.50"): the one grammar of common.money.parse_amount, never a
    JSON number (floats cannot hold fen exactly). `positive` refuses zero as well; the schema states both."""

    default_error_messages = {
        "not_a_string": _('Send amounts as decimal strings, e.g. "12.50", not JSON numbers.'),
        "grammar": _('Write a plain decimal string with at most two decimals, e.g. "12.50".'),
    }

    def __init__(self, *, positive: bool = False, **kwargs):
        self.positive = positive
        if positive:
            kwargs.setdefault("min_value", Decimal("0.01"))
        kwargs.setdefault("max_digits", 14)
        kwargs.setdefault("decimal_places", 2)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        try:
            amount = parse_amount(data)
        except MoneyError:
            self.fail("grammar")
        return self.validate_precision(amount)


class MoneyFieldSchema(OpenApiSerializerFieldExtension):
    """The grammar in the OpenAPI schema, so clients (and schemathesis) see what the parser accepts."""

    target_class = MoneyField

    def map_serializer_field(self, auto_schema, direction):
        field = self.target
        pattern = amount_pattern(max_whole_digits=field.max_whole_digits, positive=field.positive)
        return {"type": "string", "format": "decimal", "pattern": pattern}


class DateTimeField(serializers.DateTimeField):
    """Every date-time of the API (ModelSerializers map model DateTimeFields here, see CommonConfig.ready): RFC 3339
    in, years 2000–2100, offsets in whole minutes (common.datetimes); RFC 3339 out, in the current time zone."""

    default_error_messages = {
        "invalid": _('Write the date-time in RFC 3339 with its offset, e.g. "2026-03-01T09:30:00+08:00".'),
        "year": _("Only years from 2000 to 2100 are accepted."),
    }

    def to_internal_value(self, value):
        try:
            moment = parse_datetime(value)
        except DateTimeError as exc:
            self.fail(exc.code)
        return self.enforce_timezone(moment)

    def to_representation(self, value):
        if not value:
            return None
        return format_datetime(self.enforce_timezone(value))


class DateTimeFieldSchema(OpenApiSerializerFieldExtension):
    """The same rules in the OpenAPI schema: what a request may send, what a reply carries."""

    target_class = DateTimeField

    def map_serializer_field(self, auto_schema, direction):
        pattern = ACCEPTED_PATTERN if direction == "request" else RFC3339_PATTERN
        return {"type": "string", "format": "date-time", "pattern": pattern}


# The error shape in the OpenAPI schema: one component every endpoint refers to.
ERROR = inline_serializer(
    "Error", {"code": serializers.CharField(), "message": serializers.CharField(), "details": serializers.DictField()}
)
