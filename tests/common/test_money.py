from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.money import MoneyError, allocate, parse_amount, percent_of, quantize

D = Decimal


@pytest.mark.parametrize(
    ("base", "rate", "expected"),
    [
        ("50.00", "10", "5.00"),
        ("50.00", "5", "2.50"),
        ("50.00", "8", "4.00"),
        ("10.00", "10", "1.00"),
        ("0.05", "10", "0.01"),
    ],
)
def test_percent_of_reproduces_the_seed_numbers_and_rounds_half_up(base, rate, expected):
    assert percent_of(D(base), D(rate)) == D(expected)


def test_quantize_rounds_half_up_not_bankers():
    assert quantize(D("0.125")) == D("0.13")
    assert quantize(D("0.135")) == D("0.14")


def test_quantize_refuses_float():
    with pytest.raises(MoneyError):
        quantize(0.1)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["1.001", "abc", "NaN", "Infinity", 1.5, True, ""])
def test_parse_amount_refuses_bad_input(bad):
    with pytest.raises(MoneyError):
        parse_amount(bad)


@given(
    total=st.decimals(min_value=D("0.00"), max_value=D("100000.00"), places=2),
    weights=st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=50),
)
def test_allocate_parts_always_sum_to_the_whole_in_fen(total, weights):
    parts = allocate(total, weights)
    assert sum(parts) == total
    assert all(p >= 0 and p == quantize(p) for p in parts)
