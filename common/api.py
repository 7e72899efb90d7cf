"""API plumbing shared by every app: one error shape `{code, message, details}`, in the request's language."""

import logging
import re
from decimal import Decimal

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.validators import RegexValidator
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from . import errors
from .datetimes import ACCEPTED_PATTERN, RFC3339_PATTERN, DateTimeError, format_datetime, parse_datetime
from .errors import ApplicationError
from .failures import UNAVAILABLE, error_body, unavailable_headers
from .idempotency import HEADER, is_idempotent
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


# An id in a query filter: what a bigint primary key can hold, written in plain ASCII digits.
ID_FILTER_SCHEMA = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
_ID_FILTER = re.compile(r"[1-9][0-9]{0,18}")


def id_filter(params, name: str, message) -> int | None:
    """The id a list's `name` query parameter filters by, or None when it is absent or empty. Anything else than an
    id (a sign, other digits than 0-9, beyond a bigint) is refused with `message` as 400 `invalid_filter`."""
    raw = params.get(name)
    if not raw:
        return None
    if not _ID_FILTER.fullmatch(raw) or int(raw) > ID_FILTER_SCHEMA["maximum"]:
        raise ApplicationError(message, code="invalid_filter")
    return int(raw)


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

    def validate_empty_values(self, data):
        # DecimalField reads "" and "  " as null when allow_null; in the money grammar only JSON null is null.
        return serializers.Field.validate_empty_values(self, data)

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


# Statuses any operation may answer through the shared plumbing (validation, authentication, permissions, object
# lookup, the middleware's size and media-type limits, idempotency conflicts, rate limits, a dependency down): every
# operation documents them with the one error shape, so a client (and schemathesis) is never told a status is
# impossible. 500 is not among them: a server error is a bug, never part of the contract.
SHARED_ERROR_STATUSES = (400, 401, 403, 404, 405, 406, 409, 413, 414, 415, 422, 429, 503)

IDEMPOTENCY_KEY = OpenApiParameter(
    HEADER,
    location=OpenApiParameter.HEADER,
    type={"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"\S"},
    required=True,
    description="1–255 characters, unique per request you mean to make once; a retry sends the same key.",
)
RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    location=OpenApiParameter.HEADER,
    type=int,
    response=[429, 503],
    description="Seconds to wait before retrying (sent when the wait is known).",
)


class ProjectAutoSchema(AutoSchema):
    """The project's OpenAPI generator (DEFAULT_SCHEMA_CLASS): rules every view shares are stated here once, from the
    code itself, instead of being remembered per endpoint — the Idempotency-Key of an `@idempotent` method, the shared
    error replies and their Retry-After."""

    def get_override_parameters(self):
        parameters = [RETRY_AFTER]
        if is_idempotent(getattr(self.view, self.method.lower(), None)):
            parameters.append(IDEMPOTENCY_KEY)
        return parameters + super().get_override_parameters()

    def _get_response_bodies(self, direction="response"):
        # Below get_response_serializers, which @extend_schema(responses=...) replaces: the shared replies are added
        # to every operation, whatever it declares.
        responses = super()._get_response_bodies(direction)
        for code in map(str, SHARED_ERROR_STATUSES):
            responses.setdefault(code, self._get_response_for_code(ERROR, code, direction=direction))
        return responses

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if direction == "request":
            _state_parser_rules(field, schema)
        return schema


# What DRF's own fields refuse without saying so in the schema: a NUL character in any string, a blank string where
# blank is not allowed (DRF trims it first), an empty list where allow_empty=False.
_NO_NUL = "^[^\\u0000]*$"
_NOT_BLANK = "^[^\\u0000]*[^\\u0000\\s][^\\u0000]*$"


def _state_parser_rules(field, schema: dict) -> None:
    if isinstance(field, serializers.RegexField) and "pattern" not in schema:
        # drf-spectacular states a RegexField's pattern only when it was given as a string, not compiled.
        schema["pattern"] = next(v.regex.pattern for v in field.validators if isinstance(v, RegexValidator))
    if isinstance(field, serializers.IPAddressField) and "format" not in schema:
        schema.pop("pattern", None)
        schema["anyOf"] = [{"format": "ipv4"}, {"format": "ipv6"}]
    plain_string = schema.get("type") == "string" and not {"pattern", "format", "enum", "anyOf"} & schema.keys()
    if plain_string and isinstance(field, serializers.CharField):
        schema["pattern"] = _NO_NUL if field.allow_blank else _NOT_BLANK
    if isinstance(field, serializers.ListField | serializers.ListSerializer) and not field.allow_empty:
        schema.setdefault("minItems", 1)
