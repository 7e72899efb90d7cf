"""The API's one pagination (REST_FRAMEWORK's DEFAULT_PAGINATION_CLASS): `limit` and `offset`, checked.

DRF's LimitOffsetPagination passes any `limit` to the database (`?limit=99999999999999999999` was a 500, bigint out
of range) and silently reads a bad `offset` as 0. Here both are whole numbers in range or the request is a 400
`invalid_pagination` — before a page is read — and the schema states the range."""

import re

from django.utils.translation import gettext as _
from rest_framework import pagination

from .errors import ApplicationError

MAX_LIMIT = 200
# Deeper than this, a page costs the database a scan of every row before it; filter instead of paging that far.
MAX_OFFSET = 1_000_000
_WHOLE_NUMBER = re.compile(r"[0-9]{1,10}")


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    max_limit = MAX_LIMIT
    max_offset = MAX_OFFSET

    def _bounded(self, request, name: str, low: int, high: int) -> int | None:
        """The query parameter `name` as a whole number in [low, high]; None when it is not sent."""
        raw = request.query_params.get(name)
        if raw is None:
            return None
        value = int(raw) if _WHOLE_NUMBER.fullmatch(raw) else None
        if value is None or not low <= value <= high:
            raise ApplicationError(
                _("%(name)s must be a whole number from %(low)d to %(high)d.")
                % {"name": name, "low": low, "high": high},
                code="invalid_pagination",
                details={name: raw},
            )
        return value

    def get_limit(self, request):
        limit = self._bounded(request, self.limit_query_param, 1, self.max_limit)
        return self.default_limit if limit is None else limit

    def get_offset(self, request):
        return self._bounded(request, self.offset_query_param, 0, self.max_offset) or 0

    def get_schema_operation_parameters(self, view):
        bounds = {self.limit_query_param: (1, self.max_limit), self.offset_query_param: (0, self.max_offset)}
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            low, high = bounds[parameter["name"]]
            parameter["schema"].update(minimum=low, maximum=high)
        return parameters
