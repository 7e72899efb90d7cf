from django.utils.translation import gettext_lazy as _

from common.errors import ApplicationError

INVALID_DATE = _("%(field)s must be a date written YYYY-MM-DD, from 2000 to 2100.")
RANGE_REVERSED = _("The range ends before it starts: %(start)s is after %(end)s.")
RANGE_TOO_LONG = _("A report covers at most %(max_days)d days.")
TOO_MANY_CAMPAIGNS = _("Ask for at most %(max)d campaigns at once, as ids separated by commas.")


class InvalidPeriod(ApplicationError):
    code = "invalid_date"
