import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.money import MoneyError, allocate, amount_pattern, parse_amount, percent_of, quantize

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


@pytest.mark.parametrize(
    "bad",
    [
        "1.001",
        "abc",
        "NaN",
        "Infinity",
        "1e3",
        "-0.00",
        "+1",
        " 12",
        "12 ",
        "12\n",
        "12.",
        ".5",
        "012",
        "1,000",
        "１２",
        "",
    ],
)
def test_parse_amount_refuses_text_outside_the_grammar(bad):
    with pytest.raises(MoneyError):
        parse_amount(bad)


@pytest.mark.parametrize("bad", [1.5, 12, True, None, D("12.50")])
def test_parse_amount_refuses_anything_but_a_string(bad):
    with pytest.raises(MoneyError):
        parse_amount(bad)


@pytest.mark.parametrize(("text", "amount"), [("12", "12.00"), ("12.5", "12.50"), ("12.50", "12.50"), ("0", "0.00")])
def test_parse_amount_reads_plain_decimal_strings_to_the_fen(text, amount):
    assert str(parse_amount(text)) == amount


def test_parse_amount_refuses_more_than_twelve_whole_digits():
    assert parse_amount("9" * 12 + ".99") == D("999999999999.99")
    with pytest.raises(MoneyError):
        parse_amount("1" + "0" * 12)


# The grammar, built independently of the regex under test: a whole part without a superfluous leading zero, at most
# twelve digits, then optionally one or two decimals.
WHOLE = st.integers(min_value=0, max_value=10**12 - 1).map(str)
FRACTION = st.one_of(
    st.just(""),
    st.integers(min_value=0, max_value=9).map(lambda d: f".{d}"),
    st.integers(min_value=0, max_value=99).map(lambda d: f".{d:02d}"),
)
GRAMMAR = st.builds(lambda whole, fraction: whole + fraction, WHOLE, FRACTION)


@given(GRAMMAR)
def test_every_string_of_the_grammar_parses_to_its_value_and_round_trips(text):
    amount = parse_amount(text)
    assert amount == D(text) and amount == quantize(amount)
    assert parse_amount(str(amount)) == amount  # the canonical spelling is in the grammar too
    assert re.fullmatch(amount_pattern(), str(amount))


@given(st.text(max_size=20) | st.text(alphabet="0123456789.-+eE, \n", max_size=16))
def test_arbitrary_text_either_matches_the_grammar_and_parses_or_is_refused(text):
    in_grammar = re.fullmatch(r"(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?", text, flags=re.ASCII) is not None
    try:
        amount = parse_amount(text)
    except MoneyError:
        assert not in_grammar
    else:
        assert in_grammar and amount == D(text)


@given(st.decimals(min_value=D("0.01"), max_value=D("999999999999.99"), places=2))
def test_positive_pattern_leaves_out_zero_only(amount):
    positive = re.compile(amount_pattern(positive=True))
    assert positive.fullmatch(str(amount))
    for zero in ("0", "0.0", "0.00"):
        assert not positive.fullmatch(zero)


@given(
    total=st.decimals(min_value=D("0.00"), max_value=D("100000.00"), places=2),
    weights=st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=50),
)
def test_allocate_parts_always_sum_to_the_whole_in_fen(total, weights):
    parts = allocate(total, weights)
    assert sum(parts) == total
    assert all(p >= 0 and p == quantize(p) for p in parts)
