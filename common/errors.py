"""Domain errors carry a stable `code` (clients match on it), a human message and an HTTP status."""


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
