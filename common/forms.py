"""Form fields for the pages and the admin that read input by the same rules as the API (common.money,
common.datetimes)."""

from django import forms
from django.utils.translation import gettext_lazy as _

from .datetimes import FIRST_YEAR, LAST_YEAR, year_in_range
from .money import MoneyError, parse_amount


class MoneyFormField(forms.DecimalField):
    """A CNY amount typed into a form: exactly the grammar of `parse_amount` (no sign, exponent, spaces or third
    decimal), so "1e3" typed into a number input is refused at the field instead of stored as 1000.00."""

    default_error_messages = {
        "invalid": _("Enter a plain decimal number with at most two decimals, e.g. 12.50."),
    }

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return parse_amount(str(value))
        except MoneyError as exc:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from exc


def validate_year(moment) -> None:
    """Moments typed into forms keep to the API's years (common.datetimes): 0808 is a typo, not a campaign."""
    if moment is not None and not year_in_range(moment):
        raise forms.ValidationError(
            _("Enter a date in the years %(first)d to %(last)d."),
            code="year",
            params={"first": FIRST_YEAR, "last": LAST_YEAR},
        )


class DateTimeFormField(forms.DateTimeField):
    default_validators = [validate_year]


class SplitDateTimeFormField(forms.SplitDateTimeField):
    """The admin's date + time pair, with the same years."""

    default_validators = [validate_year]
