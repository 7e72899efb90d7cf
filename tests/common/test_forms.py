from datetime import datetime
from decimal import Decimal

import pytest
from django import forms

from common.forms import DateTimeFormField, MoneyFormField


class AmountForm(forms.Form):
    amount = MoneyFormField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    at = DateTimeFormField(required=False)


@pytest.mark.parametrize("typed", ["1e3", "-0.00", " 12", "12.345", "+1", "012", "NaN", "12."])
def test_money_typed_outside_the_grammar_is_refused_at_the_field(typed):
    form = AmountForm({"amount": typed})
    assert form.errors == {"amount": ["Enter a plain decimal number with at most two decimals, e.g. 12.50."]}


@pytest.mark.parametrize(("typed", "amount"), [("12", "12.00"), ("12.5", "12.50"), ("0.01", "0.01")])
def test_money_typed_in_the_grammar_is_read_to_the_fen(typed, amount):
    form = AmountForm({"amount": typed})
    assert form.is_valid(), form.errors
    assert str(form.cleaned_data["amount"]) == amount


def test_the_field_keeps_its_bounds():
    assert AmountForm({"amount": "0"}).errors == {"amount": ["Ensure this value is greater than or equal to 0.01."]}


@pytest.mark.parametrize("typed", ["0808-04-18 05:27", "1999-12-31 23:59", "2101-01-01 00:00"])
def test_a_moment_outside_the_years_is_refused_at_the_field(typed):
    form = AmountForm({"amount": "1", "at": typed})
    assert form.errors == {"at": ["Enter a date in the years 2000 to 2100."]}


def test_a_moment_within_the_years_is_read():
    form = AmountForm({"amount": "1", "at": "2100-12-31 23:59"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["at"].replace(tzinfo=None) == datetime(2100, 12, 31, 23, 59)
