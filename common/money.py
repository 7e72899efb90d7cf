"""Money arithmetic. The ONE rounding rule of the project lives here.

Amounts are `Decimal` in CNY with two places (fen), or whole POINTS. Never float.
Rule: round half up (四舍五入) to the unit's precision — the rule shoppers and accountants in China expect.
Splits allocate in integer minor units so the parts always sum to the whole.
"""

import re
from decimal import ROUND_HALF_UP, Decimal

CNY = "CNY"
POINTS = "POINTS"
CURRENCIES = (CNY, POINTS)
_QUANTUM = {CNY: Decimal("0.01"), POINTS: Decimal("1")}
ZERO = Decimal("0.00")


class MoneyError(ValueError):
    pass


def quantize(amount: Decimal, currency: str = CNY) -> Decimal:
    """Round `amount` to its currency's precision, half up. Every rounding in the project calls this."""
    if not isinstance(amount, Decimal):
        raise MoneyError(f"money must be Decimal, got {type(amount).__name__}")
    return amount.quantize(_QUANTUM[currency], rounding=ROUND_HALF_UP)


def refunded_share(total: Decimal, part: Decimal, whole: Decimal, currency: str = CNY) -> Decimal:
    """The part of `total` (a rebate, a reward) that refunds of `part` out of `whole` take back: rounded once, and all
    of it once the whole is refunded (so rounding never leaves a fen behind)."""
    return quantize(total * part / whole, currency) if part < whole else total


def percent_of(base: Decimal, rate_percent: Decimal, currency: str = CNY) -> Decimal:
    """`rate_percent` % of `base`, rounded once at the end."""
    return quantize(base * rate_percent / Decimal(100), currency)


# The one grammar of an amount that comes from outside (API, forms, tiers typed in the console): a plain decimal
# string — no sign, exponent, spaces, superfluous leading zero or third decimal. Twelve whole digits at most: a
# DecimalField(max_digits=14, decimal_places=2). Written so Python and the OpenAPI schema (ECMA regex) read it alike.
MAX_WHOLE_DIGITS = 12


def amount_pattern(*, max_whole_digits: int = MAX_WHOLE_DIGITS, positive: bool = False) -> str:
    """The grammar as an anchored regex; `positive` leaves out every spelling of zero (no lookahead needed)."""
    whole = rf"[1-9][0-9]{{0,{max_whole_digits - 1}}}"
    if positive:
        return rf"^(?:{whole}(?:\.[0-9]{{1,2}})?|0\.(?:[1-9][0-9]?|0[1-9]))$"
    return rf"^(?:0|{whole})(?:\.[0-9]{{1,2}})?$"


_AMOUNT = re.compile(amount_pattern())


def parse_amount(value) -> Decimal:
    """Strict parse of an external CNY amount: only a string in the grammar above; never a float, int or bool (a JSON
    number cannot be trusted to hold fen exactly). Raises MoneyError for anything else."""
    if not isinstance(value, str):
        raise MoneyError("amount must be a decimal string")
    # fullmatch, not match: `$` alone would let a trailing newline through.
    if not _AMOUNT.fullmatch(value):
        raise MoneyError("amount must be a plain decimal string with at most two decimals")
    return Decimal(value).quantize(_QUANTUM[CNY])


def to_minor(amount: Decimal) -> int:
    return int(quantize(amount) * 100)


def from_minor(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(_QUANTUM[CNY])


def allocate(total: Decimal, weights: list[int | Decimal]) -> list[Decimal]:
    """Split `total` (CNY) across `weights` in whole fen; largest remainders get the leftover fen."""
    total_fen = to_minor(total)
    weight_sum = sum(Decimal(w) for w in weights)
    if weight_sum <= 0:
        raise MoneyError("weights must sum to a positive number")
    exact = [Decimal(total_fen) * Decimal(w) / weight_sum for w in weights]
    parts = [int(x) for x in exact]
    leftover = total_fen - sum(parts)
    by_remainder = sorted(range(len(weights)), key=lambda i: (exact[i] - parts[i], -i), reverse=True)
    for i in by_remainder[:leftover]:
        parts[i] += 1
    return [from_minor(p) for p in parts]


def format_cny(amount: Decimal) -> str:
    return f"¥{quantize(amount):,.2f}"
