"""Domain errors carry a stable `code` (clients match on it), a human message and an HTTP status.

Messages are translatable (gettext_lazy where they are defined) and rendered in the reply's language: the request's
Accept-Language (or language cookie), zh-Hans by default."""

from django.utils.translation import gettext_lazy as _


class ApplicationError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str = "", *, code: str | None = None, status: int | None = None, details=None):
        super().__init__(message or self.code)
        self.message = message or self.code
        if code:
            self.code = code
        if status:
            self.status_code = status
        self.details = details or {}

    def after_rollback(self) -> None:
        """Runs once the refused request's transaction has rolled back: evidence worth keeping of a refusal (the
        API's exception handler and the pages call it)."""


class NotFound(ApplicationError):
    status_code = 404
    code = "not_found"


class Conflict(ApplicationError):
    status_code = 409
    code = "conflict"


class Unprocessable(ApplicationError):
    status_code = 422
    code = "unprocessable"


# Replies the plumbing gives for any route (common/api.py, common/middleware.py, common/views.py), by stable code.
REQUEST_INVALID = _("The request is invalid; see details.")
BAD_REQUEST = _("The request cannot be processed.")
NOT_AUTHENTICATED = _("Sign in or send a valid token first.")
RATE_LIMITED = _("Too many requests. Please slow down and try again.")
NOT_FOUND = _("Nothing is at this address.")
PERMISSION_DENIED = _("You are not allowed to do this.")
METHOD_NOT_ALLOWED = _("This method is not allowed here.")
BODY_TOO_LARGE = _("Request body is too large.")
URI_TOO_LONG = _("The address is too long.")
SERVER_ERROR = _("Something went wrong on our side. Please try again later.")
SERVICE_UNAVAILABLE = _("The service is briefly unavailable. Please try again in a moment.")
